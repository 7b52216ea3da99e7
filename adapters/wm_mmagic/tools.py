"""Run MMagic's own ``tools/train.py`` and ``tools/test.py`` (shipped inside the mmagic package) in this environment.

They are MMagic's scripts, run unchanged; three things are set up first:

* the compatibility fixes (``compat``): MMagic's tools import torchvision before any config is read, so a
  config's ``custom_imports`` comes too late for them;
* MMEngine reads its own checkpoints (``--resume``, ``load_from``) with ``torch.load``'s current default,
  ``weights_only=True``, which refuses the training state MMEngine itself writes (``message_hub``). Inside
  these runs (the user's own training and testing, on the user's own files) it reads them the way it did
  on the torch it was written for. ``wm verify`` and ``wm protect`` never go through here: they read
  checkpoints with ``wm_plugin.checkpoint.load_checkpoint``;
* ``--launcher pytorch`` on a machine without a GPU: MMEngine calls ``torch.cuda.set_device``, asks for
  NCCL and gives the DDP wrapper a GPU index; there the process group uses gloo and the wrapper no
  device, so distributed runs work (and are tested) on the CPU.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
from pathlib import Path

import torch

__all__ = ["run_tool", "tool_path"]


def tool_path(name: str) -> Path:
    """``mmagic/.mim/tools/<name>.py`` of the installed MMagic."""
    import mmagic

    return Path(mmagic.__file__).parent / ".mim" / "tools" / f"{name}.py"


def _read_own_checkpoints() -> None:
    from mmengine.runner import checkpoint

    original = checkpoint.CheckpointLoader._schemes.get("")  # local files: the scheme without a prefix
    if original is None or getattr(original, "_wm_own", False):
        return

    @functools.wraps(original)
    def load_from_local(filename, map_location):
        path = Path(filename).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{filename} can not be found.")
        return torch.load(path, map_location=map_location, weights_only=False)

    load_from_local._wm_own = True
    checkpoint.CheckpointLoader.register_scheme(prefixes="", loader=load_from_local, force=True)


def _cpu_distributed() -> None:
    if torch.cuda.is_available():
        return
    import torch.distributed as dist
    from mmengine.dist import utils

    def _init_dist_pytorch(backend, init_backend="torch", **kwargs) -> None:
        dist.init_process_group(backend="gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]),
                                **kwargs)

    utils._init_dist_pytorch = _init_dist_pytorch

    from mmengine.model.wrappers.distributed import MMDistributedDataParallel

    original = MMDistributedDataParallel.__init__
    if getattr(original, "_wm_cpu", False):
        return

    @functools.wraps(original)
    def __init__(self, module, *args, **kwargs):
        kwargs.pop("device_ids", None)  # a CPU module takes none
        original(self, module, *args, **kwargs)

    __init__._wm_cpu = True
    MMDistributedDataParallel.__init__ = __init__


def run_tool(name: str, argv: list[str]) -> None:
    """Run MMagic's ``tools/<name>.py`` with ``argv`` as its arguments, in this process."""
    from . import compat

    compat.apply()
    _read_own_checkpoints()
    _cpu_distributed()
    script = tool_path(name)
    sys.argv = [str(script), *argv]
    runpy.run_path(str(script), run_name="__main__")
