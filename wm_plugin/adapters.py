"""Framework adapters: the contract, and discovery through the ``wm.adapters`` entry-point group.

An adapter knows one framework (BasicSR, MMagic, ...) and nothing else. Third-party packages add one by
declaring, in their own pyproject::

    [project.entry-points."wm.adapters"]
    myframework = "my_package.adapter:MyAdapter"

Entry points are read in exactly one function, ``_entry_points``, lazily and once; an adapter is imported
only when it is asked for by name, and checked against the contract when it is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.metadata
import inspect
from typing import Any, Protocol, runtime_checkable

from .errors import AdapterError, AdapterValidationError

__all__ = ["ENTRY_POINT_GROUP", "FrameworkAdapter", "AdapterInfo", "list_adapters", "load_adapter", "validate_adapter"]

ENTRY_POINT_GROUP = "wm.adapters"


@runtime_checkable
class FrameworkAdapter(Protocol):
    """What every adapter provides. Methods take keyword arguments after the first."""

    name: str

    def load_model(self, checkpoint: str, *, config: str | None = None, device: str = "cpu") -> Any:
        """Build the framework's model from its config and load ``checkpoint`` into it (no pickled code)."""

    def run(self, model: Any, images: Any) -> Any:
        """Run ``model`` on a batch of images (B,3,H,W float in [0, 1]); return its outputs the same way."""

    def save_checkpoint(self, model: Any, path: str, *, like: str | None = None, config: str | None = None) -> None:
        """Write ``model`` to ``path`` in the framework's own checkpoint format (shaped like ``like``; ``config``
        is the one the model was loaded with, for frameworks whose checkpoints need it)."""

    def save_barrier(self, barrier: Any, path: str, *, config: str | None = None, like: str | None = None) -> list[str]:
        """Write ``barrier`` (a ``WatermarkBarrier`` around a loaded model) so the framework's own code runs it;
        return the paths written (the checkpoint, and a config where the framework needs one). ``like`` is the
        original checkpoint, for what else it holds (discriminators, EMA copies, metadata)."""

    def train(self, config: str, argv: list[str]) -> None:
        """Run the framework's own training on ``config`` with the watermark flag honoured."""


# Optional: ``config_suffix`` (the file ``save_barrier`` writes beside the checkpoint, e.g. ".yml"),
# ``model_scale(config) -> int`` (the upscaling factor, for probe inputs), ``demo_model() -> (checkpoint, config)``.
_REQUIRED = ("load_model", "run", "save_checkpoint", "save_barrier", "train")


@dataclasses.dataclass(frozen=True)
class AdapterInfo:
    """An adapter as declared by an installed distribution (not yet imported)."""

    name: str
    value: str
    distribution: str
    version: str


@functools.cache
def _entry_points() -> dict[str, AdapterInfo]:
    found: dict[str, AdapterInfo] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if ep.name in found and found[ep.name].value != ep.value:
            other = found[ep.name]
            raise AdapterError(
                f"adapter {ep.name!r} is declared twice: by {other.distribution} {other.version} ({other.value}) "
                f"and by {dist} {version} ({ep.value}); uninstall one"
            )
        found[ep.name] = AdapterInfo(ep.name, ep.value, dist, version)
    return found


def list_adapters() -> list[AdapterInfo]:
    """The installed adapters, sorted by name (none is imported)."""
    return [info for _, info in sorted(_entry_points().items())]


def validate_adapter(adapter: Any, origin: str) -> Any:
    """Check ``adapter`` against the contract; return it.

    Raises:
        AdapterValidationError: a required method is missing or not callable; the message names the adapter.
    """
    for method in _REQUIRED:
        if not callable(getattr(adapter, method, None)):
            raise AdapterValidationError(f"adapter {origin} does not implement {method}() of the adapter contract")
    if not isinstance(getattr(adapter, "name", None), str):
        raise AdapterValidationError(f"adapter {origin} has no string attribute 'name'")
    return adapter


@functools.cache
def load_adapter(name: str) -> FrameworkAdapter:
    """Import, instantiate (if a class) and validate the adapter registered as ``name``.

    Raises:
        AdapterError: no adapter has that name (close matches are listed), or importing it fails.
        AdapterValidationError: it does not implement the contract.
    """
    infos = _entry_points()
    if name not in infos:
        known = sorted(infos)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"installed: {', '.join(known) or 'none'}"
        raise AdapterError(f"no framework adapter named {name!r}; {hint}")
    info = infos[name]
    origin = f"{name!r} ({info.value}, from {info.distribution} {info.version})"
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    ep = next(ep for ep in found if ep.value == info.value)
    try:
        obj = ep.load()
    except Exception as e:  # an adapter's import error is the adapter's, reported as such
        raise AdapterError(f"adapter {origin} failed to import: {type(e).__name__}: {e}") from e
    return validate_adapter(obj() if inspect.isclass(obj) else obj, origin)
