"""Make PyPI's torchvision importable beside the CPU build of torch, for the adapters whose frameworks import it.

PyPI's torchvision 0.28 ships C++ ops built against the CUDA build of torch; beside the CPU build its ``_C``
library fails to register ``torchvision::nms`` and ``import torchvision`` dies (so do ``import basicsr`` and
``import mmagic``). Declaring the two operator schemas first lets the pure-Python parts import; the C++
kernels stay unavailable, and no restoration or translation network needs them. ../shared/FRAMEWORKS.md
has the measurements.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import torch

__all__ = ["declare_torchvision_ops"]

_library = None  # the schema declarations live as long as this reference


def declare_torchvision_ops() -> None:
    """Load torchvision's own kernels, or declare their schemas where they do not load. Idempotent."""
    global _library
    if "torchvision" in sys.modules or _library is not None:
        return  # imported already (and so it worked), or declared
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return  # not installed: importing the framework will say so
    for lib in Path(spec.origin).parent.glob("_C*.so"):
        with contextlib.suppress(OSError, RuntimeError):
            torch.ops.load_library(str(lib))
    try:
        torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")
    except RuntimeError:
        _library = torch.library.Library("torchvision", "DEF")
        _library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
