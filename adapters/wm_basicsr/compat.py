"""Make BasicSR 1.4.2 import and run beside torch 2.13 (CPU) and torchvision 0.28; applied once, before basicsr.

Three known breakages (../shared/FRAMEWORKS.md has the measurements):

* PyPI's torchvision 0.28 ships C++ ops built against CUDA torch; beside the CPU build its ``_C`` library
  fails to register ``torchvision::nms`` and ``import torchvision`` dies. Declaring the two operator schemas
  first lets the pure-Python parts import; the C++ kernels stay unavailable (no restoration arch needs them).
* basicsr imports ``torchvision.transforms.functional_tensor``, renamed ``_functional_tensor`` in 0.17.
* ``basicsr.train.load_resume_state`` maps the resume state onto ``torch.cuda.current_device()``, which
  fails on a CPU-only machine; on such a machine it is replaced by a CPU load.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path

import torch

_done = False
_library = None  # the schema declarations live as long as this reference


def _declare_torchvision_ops() -> None:
    global _library
    if "torchvision" in sys.modules:
        return  # imported already (and so it worked)
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return  # not installed: importing basicsr will say so
    # Load torchvision's own kernels first; only if they do not load here, declare their schemas.
    for lib in Path(spec.origin).parent.glob("_C*.so"):
        with contextlib.suppress(OSError, RuntimeError):
            torch.ops.load_library(str(lib))
    try:
        torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")
    except RuntimeError:
        _library = torch.library.Library("torchvision", "DEF")
        _library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def _alias_functional_tensor() -> None:
    name = "torchvision.transforms.functional_tensor"
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = importlib.import_module("torchvision.transforms._functional_tensor")


def _cpu_resume() -> None:
    import basicsr.train as train

    original = train.load_resume_state
    if getattr(original, "_wm_cpu", False) or torch.cuda.is_available():
        return

    def load_resume_state(opt):
        path = None
        if opt["auto_resume"]:
            state_dir = train.osp.join("experiments", opt["name"], "training_states")
            if train.osp.isdir(state_dir):
                states = [float(v.split(".state")[0]) for v in train.scandir(state_dir, suffix="state", recursive=False, full_path=False)]
                if states:
                    path = train.osp.join(state_dir, f"{max(states):.0f}.state")
                    opt["path"]["resume_state"] = path
        elif opt["path"].get("resume_state"):
            path = opt["path"]["resume_state"]
        if path is None:
            return None
        # BasicSR's own training state (optimizers, schedulers): the user's file, written by BasicSR.
        state = torch.load(path, map_location="cpu", weights_only=False)
        train.check_resume(opt, state["iter"])
        return state

    load_resume_state._wm_cpu = True
    train.load_resume_state = load_resume_state


def apply() -> None:
    """Apply the fixes (idempotent). Call before the first ``import basicsr``."""
    global _done
    if _done:
        return
    _declare_torchvision_ops()
    _alias_functional_tensor()
    _cpu_resume()
    _done = True
