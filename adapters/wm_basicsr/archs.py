"""``WatermarkBarrierArch``: a BasicSR arch that is the user's arch followed by the watermark embedder.

What ``wm protect --mode barrier`` writes. In an options file::

    network_g:
      type: WatermarkBarrierArch
      inner: {type: RRDBNet, num_in_ch: 3, ...}   # the original network_g
      embedder: {net: embedder_256, bits: 64, ...}  # H's shape (the weights are in the checkpoint)

Its ``params`` hold ``model.*`` (the original weights, unchanged), ``embedder.*``, ``message`` and ``psnr``.
"""

from __future__ import annotations

import numpy as np
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY

from wm_plugin.barrier import WatermarkBarrier, build_embedder
from wm_plugin.codec import DEFAULT_PSNR


@ARCH_REGISTRY.register()
class WatermarkBarrierArch(WatermarkBarrier):
    """The arch ``inner`` (a BasicSR ``network_g`` mapping) followed by an embedder shaped as ``embedder``."""

    def __init__(self, inner: dict, embedder: dict, psnr: float = DEFAULT_PSNR):
        h = build_embedder(embedder)
        super().__init__(build_network(dict(inner)), h, np.zeros(h.bits, np.uint8), psnr, spec=dict(embedder))
