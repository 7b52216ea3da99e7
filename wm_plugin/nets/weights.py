"""Save and load a registered network as one safetensors file that names how to rebuild it.

The file's metadata holds ``net`` (the registered name) and ``config`` (JSON keyword arguments), so
``load_net(path)`` needs nothing else; loading never runs pickled code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import WeightsError
from ..fileio import atomic_path
from ._registry import create_net

__all__ = ["save_net", "load_net", "read_net_metadata"]

_FORMAT = "wm-net-1"


def save_net(net: nn.Module, path: str | os.PathLike, *, name: str, config: dict, extra: dict | None = None) -> None:
    """Write ``net``'s weights to ``path`` (atomically) with what ``load_net`` needs to rebuild it.

    Args:
        net: the network; its ``state_dict`` is saved.
        name: the registered name it was built from.
        config: the keyword arguments it was built with (JSON-serializable).
        extra: more string metadata to keep (training steps, figures).
    """
    metadata = {"format": _FORMAT, "net": name, "config": json.dumps(config, sort_keys=True)}
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def read_net_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a weights file written by ``save_net``.

    Raises:
        WeightsError: the file is missing, not safetensors, or not written by ``save_net``.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weights file {path}: {e}") from None
    if metadata.get("format") != _FORMAT:
        raise WeightsError(f"{path} is not a wm network file (metadata format {metadata.get('format')!r})")
    return metadata


def load_net(path: str | os.PathLike, *, map_location: str = "cpu") -> nn.Module:
    """Rebuild the network saved at ``path`` and load its weights (strictly), in eval mode.

    Raises:
        WeightsError: unreadable file, or weights that do not fit the network it names.
    """
    metadata = read_net_metadata(path)
    net = create_net(metadata["net"], **json.loads(metadata["config"]))
    state = load_file(str(Path(path)), device=map_location)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise WeightsError(f"weights in {path} do not fit network {metadata['net']!r}: {first}") from None
    return net.eval()
