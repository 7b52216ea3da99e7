"""Run MMagic's own ``tools/train.py`` and ``tools/test.py`` (shipped inside the mmagic package) in this environment.

They are MMagic's scripts, run unchanged; two things are set up first:

* the compatibility fixes (``compat``): MMagic's tools import torchvision before any config is read, so a
  config's ``custom_imports`` comes too late for them;
* MMEngine reads its own checkpoints (``--resume``, ``load_from``) with ``torch.load``'s current default,
  ``weights_only=True``, which refuses the training state MMEngine itself writes (``message_hub``). Inside
  these runs (the user's own training and testing, on the user's own files) it reads them the way it did
  on the torch it was written for. ``wm verify`` and ``wm protect`` never go through here: they read
  checkpoints with ``wm_plugin.checkpoint.load_checkpoint``.
"""

from __future__ import annotations

import functools
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


def run_tool(name: str, argv: list[str]) -> None:
    """Run MMagic's ``tools/<name>.py`` with ``argv`` as its arguments, in this process."""
    from . import compat

    compat.apply()
    _read_own_checkpoints()
    script = tool_path(name)
    sys.argv = [str(script), *argv]
    runpy.run_path(str(script), run_name="__main__")
