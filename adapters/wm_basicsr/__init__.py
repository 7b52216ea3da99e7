"""The BasicSR adapter: the ``watermark:`` flag in BasicSR options files, and BasicSR checkpoints in and out.

Importing this package applies the compatibility fixes BasicSR 1.4.2 needs here (``compat``) and registers
``WatermarkBarrierArch`` (``ARCH_REGISTRY``: BasicSR's own code builds protected models) and
``GaussianNoiseDataset`` (``DATASET_REGISTRY``: denoising options files). A user's own train.py can
``import wm_basicsr`` and name ``model_type: WatermarkedSRModel`` (see ``models``) instead of
running ``wm basicsr-train``.
"""

from . import compat

compat.apply()

from . import archs, datasets  # noqa: E402,F401  (register WatermarkBarrierArch, GaussianNoiseDataset)
