"""Make BasicSR 1.4.2 import and run beside torch 2.13 (CPU) and torchvision 0.28; applied once, before basicsr.

Four known breakages (../shared/FRAMEWORKS.md has the measurements):

* PyPI's torchvision 0.28 does not import beside the CPU build of torch (``wm_plugin.torchvision_ops``).
* basicsr imports ``torchvision.transforms.functional_tensor``, renamed ``_functional_tensor`` in 0.17.
* ``basicsr.train.load_resume_state`` maps the resume state onto ``torch.cuda.current_device()``, which
  fails on a CPU-only machine; on such a machine it is replaced by a CPU load.
* ``--launcher pytorch`` assumes GPUs: NCCL, ``torch.cuda.set_device`` and ``DistributedDataParallel`` with
  ``device_ids``. On a CPU-only machine the process group uses gloo and the wrapper no ``device_ids``, so
  distributed training runs (and is tested) there too.
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
                names = train.scandir(state_dir, suffix="state", recursive=False, full_path=False)
                states = [float(v.split(".state")[0]) for v in names]
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


def _cpu_distributed() -> None:
    if torch.cuda.is_available():
        return
    import torch.distributed as dist
    from basicsr.models import base_model
    from basicsr.utils import dist_util
    from torch.nn.parallel import DistributedDataParallel

    def _init_dist_pytorch(backend, **kwargs):
        dist.init_process_group(backend="gloo", **kwargs)

    def model_to_device(self, net):
        net = net.to(self.device)
        if self.opt["dist"]:
            return DistributedDataParallel(net, find_unused_parameters=self.opt.get("find_unused_parameters", False))
        return net

    dist_util._init_dist_pytorch = _init_dist_pytorch
    base_model.BaseModel.model_to_device = model_to_device


def apply() -> None:
    """Apply the fixes (idempotent). Call before the first ``import basicsr``."""
    global _done
    if _done:
        return
    declare_torchvision_ops()
    _alias_functional_tensor()
    _cpu_resume()
    _cpu_distributed()
    _done = True
