"""MMagic modules (``MODELS`` registry) that ``wm protect`` writes and ``MMagicAdapter`` loads.

``WatermarkBarrierNet`` takes the place of a model's ``generator`` in a config::

    model = dict(type='BaseEditModel', generator=dict(
        type='WatermarkBarrierNet',
        inner=dict(type='EDSRNet', ...),      # the original generator
        embedder=dict(net='embedder_256', ...),  # H's shape (its weights are in the checkpoint)
        psnr=43.5, space=dict(mean=[...], std=[...], bgr=False)), ...)

so MMagic's own ``tools/test.py`` and ``MMagicInferencer`` run the protected model unchanged.
``MMagicGenerator`` is what the adapter hands the core: a generator seen from RGB pictures in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmagic.registry import MODELS
from torch import nn

from wm_plugin.barrier import WatermarkBarrier, build_embedder
from wm_plugin.codec import DEFAULT_PSNR

from .space import PixelSpace

__all__ = ["MMagicGenerator", "WatermarkBarrierNet"]


@MODELS.register_module()
class WatermarkBarrierNet(WatermarkBarrier):
    """The generator ``inner`` (an MMagic config dict) followed by an embedder shaped as ``embedder``.

    It speaks the generator's own tensor space (``space``): outputs are taken to RGB pictures, marked, and
    put back, so the data preprocessor and the losses around it see what they saw before.
    """

    def __init__(self, inner: dict, embedder: dict, psnr: float = DEFAULT_PSNR, space: dict | None = None):
        h = build_embedder(embedder)
        super().__init__(MODELS.build(dict(inner)), h, np.zeros(h.bits, np.uint8), psnr, spec=dict(embedder))
        self.space = PixelSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in (space or {}).items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.space.from_pixels(self.mark(self.space.to_pixels(self.model(x))))


class MMagicGenerator(nn.Module):
    """An MMagic generator as an image-to-image network on RGB pictures (B,3,H,W) in [0, 1].

    Inputs are reflect-padded to a multiple of ``multiple`` (a U-Net's 2^depth) and the output cropped back
    (MMagic's own pipelines resize inputs to such sizes instead).
    """

    def __init__(self, generator: nn.Module, space: PixelSpace, multiple: int = 1):
        super().__init__()
        self.generator, self.space, self.multiple = generator, space, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        # A barrier marks the cropped picture: the mark is laid out for the size it is read at.
        barrier = self.generator if isinstance(self.generator, WatermarkBarrierNet) else None
        y = self.space.to_pixels((barrier.model if barrier else self.generator)(self.space.from_pixels(x)))
        scale = y.shape[-1] // x.shape[-1]
        y = y[..., : h * scale, : w * scale]
        return barrier.mark(y) if barrier else y
