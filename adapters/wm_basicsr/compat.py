"""Make BasicSR 1.4.2 import and run beside torch 2.13 (CPU) and torchvision 0.28; applied once, before basicsr.

Three known breakages (../shared/FRAMEWORKS.md has the measurements):

* PyPI's torchvision 0.28 does not import beside the CPU build of torch (``wm_plugin.torchvision_ops``).
* basicsr imports ``torchvision.transforms.functional_tensor``, renamed ``_functional_tensor`` in 0.17.
* ``basicsr.train.load_resume_state`` maps the resume state onto ``torch.cuda.current_device()``, which
  fails on a CPU-only machine; on such a machine it is replaced by a CPU load.
"""

from __future__ import annotations

import importlib
import sys

import torch

from wm_plugin.torchvision_ops import declare_torchvision_ops

_done = False


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
    declare_torchvision_ops()
    _alias_functional_tensor()
    _cpu_resume()
    _done = True
