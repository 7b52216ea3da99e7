"""Atomic writes: every file the library produces appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError

__all__ = ["atomic_path", "check_writable", "write_text_atomic"]


def check_writable(path: str | os.PathLike, *, force: bool) -> None:
    """Raise ``OutputExistsError`` if ``path`` exists and ``force`` is off."""
    if not force and os.path.lexists(path):
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a normal file gets the user's default
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` (UTF-8) through ``atomic_path``: the old file or the new one, never half of it.
    ``mode`` (e.g. 0o600 for a secret) is set before the text goes in, so the text is never readable more widely."""
    with atomic_path(path) as tmp:
        if mode is not None:
            os.chmod(tmp, mode)
        Path(tmp).write_text(text, encoding="utf-8")
