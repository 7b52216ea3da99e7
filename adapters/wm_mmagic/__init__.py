"""The MMagic adapter: ``watermark = dict(...)`` in MMagic configs, and MMagic checkpoints in and out.

Importing this package (what ``custom_imports = dict(imports=['wm_mmagic'])`` in a config does) applies
the compatibility fixes MMagic 1.2.0 needs here (``compat``), registers ``WatermarkBarrierNet``
(``MODELS``: MMagic's own code builds protected models) and ``WatermarkHook`` (``HOOKS``), and makes
``Runner.from_cfg`` add the hook to configs with a ``watermark`` block, so MMagic's own ``tools/train.py``
trains a watermarked model unchanged.
"""

from . import compat

compat.apply()

from . import generators, hook  # noqa: E402,F401  (register WatermarkBarrierNet, WatermarkHook)

hook.enable_flag()
