"""The record ``wm protect`` writes beside a protected checkpoint (``OUTPUT.wm.json``).

It says what was done, with which key, to which files (their SHA-256), and the check the result passed: an owner
keeps it with the key, as the evidence that ties the shipped checkpoint to the original one. ``wm verify --record``
reads from it how to query a suspect: in trigger mode, with a trigger of the height the model was protected with.
Paths of files are written relative to the record's folder, so that a record moved with the files it names still
finds them; ``recorded_path`` reads one back.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import WatermarkError
from .fileio import write_text_atomic

__all__ = ["RECORD_FORMAT", "ProtectionRecord", "file_sha256", "load_record", "record_path", "recorded_path"]

RECORD_FORMAT, RECORD_VERSION = "wm-protection", 1


def record_path(output: str | os.PathLike) -> Path:
    """Where the record of the protected checkpoint ``output`` goes: beside it, ``.wm.json`` appended."""
    return Path(f"{output}.wm.json")


def _relative(path: str, folder: Path) -> str:
    """``path`` (a file) relative to ``folder``; as given when it is no file, or on another drive."""
    if not Path(path).is_file():
        return path
    try:
        return os.path.relpath(path, folder)
    except ValueError:  # Windows: another drive
        return str(Path(path).resolve())


def recorded_path(value: str, record: str | os.PathLike) -> str:
    """A path the record at ``record`` holds, to open from here: relative to the record's folder where that is a
    file, else as written (a record from before paths were kept relative to it, or a spec that is no file)."""
    beside = Path(record).parent / value
    return str(beside) if beside.is_file() else value


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class ProtectionRecord:
    """One ``wm protect`` run: ``mode`` (barrier, absorb, trigger), the key's fingerprint, the trigger's height in
    /255 (trigger mode; None otherwise), the files read and written with their hashes, the settings the run used,
    and the check (``ProtectionCheck.to_dict()``)."""

    mode: str
    key_fingerprint: str
    trigger_height: float | None
    files: Mapping[str, Any]
    settings: Mapping[str, Any]
    check: Mapping[str, Any]
    created: str = ""

    @classmethod
    def of_run(cls, mode: str, key_fingerprint: str, *, checkpoint: str, written: Sequence[str],
               at: str | os.PathLike, config: str | None = None, trigger_height: float | None = None,
               settings: Mapping[str, Any] = (), check: Mapping[str, Any] = ()) -> "ProtectionRecord":
        """The record, to be saved ``at`` a path, of a run that read ``checkpoint`` (and ``config``) and wrote
        ``written``, now. Its paths (the files' and ``settings["config"]``) are relative to the record's folder."""
        folder = Path(at).parent

        def entry(path: str) -> dict:
            return {"path": _relative(str(path), folder), "sha256": file_sha256(path)}

        files = {"original": entry(checkpoint), "protected": [entry(p) for p in written]}
        if config is not None and Path(config).is_file():
            files["config"] = entry(config)
        settings = dict(settings)
        if settings.get("config") is not None:
            settings["config"] = _relative(settings["config"], folder)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
        return cls(mode, key_fingerprint, trigger_height if mode == "trigger" else None, files, settings,
                   dict(check), now)

    def to_dict(self) -> dict:
        return {"format": RECORD_FORMAT, "version": RECORD_VERSION} | dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> None:
        """Write the record as JSON at ``path``, atomically."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def load_record(path: str | os.PathLike) -> ProtectionRecord:
    """Read a record written by ``wm protect``.

    Raises:
        WatermarkError: missing or unreadable file, not a record, another version, a bad trigger height.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise WatermarkError(f"cannot read the protection record {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WatermarkError(f"{path} is not a protection record (not JSON); `wm protect` writes one beside its "
                             "output, named OUTPUT.wm.json") from None
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise WatermarkError(f"{path} is not a protection record (no \"format\": \"{RECORD_FORMAT}\")")
    if doc.get("version") != RECORD_VERSION:
        raise WatermarkError(f"{path} is a version {doc.get('version')!r} record; this wm reads version "
                             f"{RECORD_VERSION}")
    fields = {f.name for f in dataclasses.fields(ProtectionRecord)}
    missing = sorted(fields - set(doc) - {"created"})
    if missing:
        raise WatermarkError(f"{path}: missing record field {missing[0]!r}")
    if not all(isinstance(doc[name], dict) for name in ("files", "settings", "check")):
        raise WatermarkError(f"{path}: files, settings and check must be JSON objects")
    height = doc["trigger_height"]
    if doc["mode"] == "trigger" and (isinstance(height, bool) or not isinstance(height, (int, float))
                                     or not 0 < height <= 64):
        raise WatermarkError(f"{path}: trigger_height must be a height in /255 above 0 and at most 64, not {height!r}")
    return ProtectionRecord(**{name: doc[name] for name in fields if name in doc})
