"""The network registry: a dict of named constructors and four plain functions (timm's pattern).

A network family file registers its variants with ``@register_net``; ``create_net`` builds one by name.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

import torch.nn as nn

from ..errors import RegistryError

__all__ = ["register_net", "create_net", "list_nets", "is_net"]

_constructors: dict[str, Callable[..., nn.Module]] = {}


def _where(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def register_net(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a network constructor under its function name.

    Raises:
        RegistryError: the name is taken; the message says where the existing entry lives.
    """
    name = fn.__name__
    if name in _constructors:
        raise RegistryError(f"network {name!r} is already registered by {_where(_constructors[name])}")
    _constructors[name] = fn
    return fn


def create_net(name: str, **kwargs) -> nn.Module:
    """Build the registered network ``name``; keyword arguments left as ``None`` keep the variant's defaults.

    Raises:
        RegistryError: ``name`` is not registered; the message lists close matches.
    """
    if name not in _constructors:
        close = difflib.get_close_matches(name, _constructors, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_nets())}"
        raise RegistryError(f"unknown network {name!r}{hint}")
    return _constructors[name](**{k: v for k, v in kwargs.items() if v is not None})


def list_nets(pattern: str = "*") -> list[str]:
    """Registered network names matching the fnmatch ``pattern``, sorted."""
    return sorted(n for n in _constructors if fnmatch.fnmatch(n, pattern))


def is_net(name: str) -> bool:
    """Whether ``name`` is a registered network."""
    return name in _constructors
