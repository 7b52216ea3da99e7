"""Open a PyTorch checkpoint someone else wrote without running any code it carries, and write ours whole.

``torch.load(weights_only=True)`` unpickles tensors and plain containers only; a checkpoint that needs any
other global (a class, a function: the way pickled code gets in) is refused with the global's name.

Training frameworks also pickle their own bookkeeping next to the weights (MMEngine: ``message_hub`` with
``HistoryBuffer`` and numpy arrays), which ``weights_only`` refuses too. An adapter may name those globals
(``inert``: name prefixes); they are then unpickled as inert placeholders: never imported, never called.
Every other global is still refused, and the weights come back exactly as ``weights_only`` reads them.
"""

from __future__ import annotations

import os
import pickle
import re
import types
from typing import Any, Sequence

import torch

from .errors import WeightsError
from .fileio import atomic_path

__all__ = ["Inert", "load_checkpoint", "read_state_dict", "save_checkpoint"]


class Inert:
    """What an allowed framework object becomes: it remembers nothing and does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state) -> None:
        pass

    def __repr__(self) -> str:
        return "<inert>"


def _inert_pickle_module() -> types.ModuleType:
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = _get_allowed_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            # torch's own safe list (tensor rebuilding, dtypes, containers); everything else is a placeholder.
            return allowed.get(f"{module}.{name}", Inert)

    return types.SimpleNamespace(Unpickler=Unpickler, load=pickle.load, __name__="wm_inert_pickle")


def _refuse(path, name: str) -> WeightsError:
    return WeightsError(f"{path}: refused: loading it would run pickled code ({name}); only tensors, plain "
                        "containers and the framework's own bookkeeping are accepted")


def _load_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise WeightsError(f"checkpoint not found: {path}") from None
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{path}: not a safetensors file ({e})") from None


def load_checkpoint(path: str | os.PathLike, *, inert: Sequence[str] = ()) -> Any:
    """The contents of ``path``, on the CPU, without running code from it (``.safetensors``: its tensors).

    Args:
        inert: name prefixes of globals (e.g. ``"mmengine."``) a checkpoint may hold; they load as ``Inert``.

    Raises:
        WeightsError: missing file, not a PyTorch checkpoint, or one that needs any other global.
    """
    if str(path).endswith(".safetensors"):
        return _load_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise WeightsError(f"{path} is a folder, not a checkpoint") from None
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(e))
        if not found:
            raise WeightsError(f"{path}: not a PyTorch checkpoint") from None
        if not inert:
            raise _refuse(path, found.group(1)) from None
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({type(e).__name__})") from None
    # A static scan of the pickle (nothing is imported): every global outside torch's list must be inert.
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    refused = [name for name in unsafe if not name.startswith(tuple(inert))]
    if refused:
        raise _refuse(path, refused[0])
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_inert_pickle_module())


def read_state_dict(path: str | os.PathLike, keys: Sequence[str], *,
                    inert: Sequence[str] = ()) -> tuple[dict[str, Any], dict]:
    """(the weights, the whole file) of a checkpoint: the first of ``keys`` that holds a dict, else the file
    itself when it is a bare state dict (the file is then ``{}``). ``module.`` prefixes (DataParallel) dropped.

    Raises:
        WeightsError: as ``load_checkpoint``, or no state dict inside.
    """
    doc = load_checkpoint(path, inert=inert)
    if isinstance(doc, dict):
        for key in keys:
            if isinstance(doc.get(key), dict):
                return _strip_module(doc[key]), doc
        if doc and all(isinstance(v, torch.Tensor) for v in doc.values()):
            return _strip_module(doc), {}
    raise WeightsError(f"{path}: no state dict inside (looked for {', '.join(keys)} or bare tensors)")


def save_checkpoint(doc: dict, path: str | os.PathLike, *, weights: str | None = None) -> None:
    """Write ``doc`` to ``path`` atomically: with ``torch.save`` (plain containers and tensors, so ``load_checkpoint``
    reads it), or to a ``.safetensors`` path, ``doc[weights]`` alone, the model's weights as a bare state dict
    (the format holds tensors only; ``read_state_dict`` reads them back).

    Raises:
        WeightsError: a ``.safetensors`` path for a checkpoint that keeps more than weights (``weights`` None).
    """
    if str(path).endswith(".safetensors"):
        if weights is None:
            raise WeightsError(f"{path}: this checkpoint keeps more than tensors (a barrier's layout): name it .pth")
        from safetensors.torch import save_file

        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in doc[weights].items()}, str(tmp))
        return
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)


def _strip_module(state: dict) -> dict:
    return {k.removeprefix("module."): v for k, v in state.items()}
