"""Make MMagic 1.2.0 import beside torch 2.13 (CPU), torchvision 0.28, numpy 2 and mmcv-lite; applied before mmagic.

Three known breakages (../shared/FRAMEWORKS.md has the measurements):

* PyPI's torchvision 0.28 does not import beside the CPU build of torch (``wm_plugin.torchvision_ops``).
* MMagic uses ``np.bool8``, removed in numpy 2.
* We install mmcv-lite 2.1.0 (seconds, no compiler) instead of compiling mmcv 2.1.0 (~10 minutes); it has
  no compiled ops, ``mmcv._ext``. ``import mmagic.models`` needs the module to exist (video and detection
  models bind its ops at import); a stand-in whose ops raise ``NotImplementedError`` when called lets the
  rest import. No super-resolution, restoration or translation network we target calls them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
import warnings

import numpy as np

from wm_plugin.torchvision_ops import declare_torchvision_ops

__all__ = ["apply"]

_done = False


class _MissingOps(types.ModuleType):
    """``mmcv._ext`` of mmcv-lite: every op exists (mmcv checks at import) and raises when called."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def missing(*args, **kwargs):
            raise NotImplementedError(f"mmcv op {name} is compiled only in the full mmcv; this install has mmcv-lite")

        return missing


def _stand_in_for_mmcv_ext() -> None:
    if "mmcv._ext" in sys.modules or importlib.util.find_spec("mmcv") is None:
        return
    try:
        importlib.import_module("mmcv._ext")
    except ImportError:
        module = _MissingOps("mmcv._ext")
        module.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
        sys.modules["mmcv._ext"] = module


def apply() -> None:
    """Apply the fixes (idempotent). Call before the first ``import mmagic``."""
    global _done
    if _done:
        return
    declare_torchvision_ops()
    if not hasattr(np, "bool8"):
        np.bool8 = np.bool_
    _stand_in_for_mmcv_ext()
    # Import-time notices of MMagic's dependencies, about their own APIs, not about anything a user did.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message=r"`\w+` is deprecated and will be removed", category=FutureWarning)
    _done = True
