"""Owner keys: a secret seed and the message bits, in a small JSON file that never goes inside a model.

The bits the networks carry are the message XOR a keystream drawn from the seed (SHAKE-256). An extractor
that leans towards some pattern (all zeros, say) therefore agrees with a key's carried bits no more often
than chance, whatever message the owner chose, and a key's carried bits cannot be guessed without its seed.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np

from .errors import KeyFileError
from .fileio import check_writable, write_text_atomic

__all__ = ["OwnerKey", "generate_key", "save_key", "load_key", "KEY_VERSION", "SCHEMES"]

KEY_FORMAT = "wm-key"
KEY_VERSION = 1
_FIELDS = {"format", "version", "bits", "seed", "message", "created", "scheme"}
# How a key's bits are written into images: by the learned networks (``deep``, the default) or by the
# training-free, translation-invariant spectral filter (``spectral``, wm_plugin.spectral).
SCHEMES = ("deep", "spectral")


def _to_bits(data: bytes, k: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8))[:k].astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class OwnerKey:
    """A watermark owner's key.

    Attributes:
        seed: 32 secret bytes.
        message: the owner's k message bits (0/1), k ≥ 8 and a multiple of 8.
        created: ISO timestamp of creation.
        scheme: how the bits are written into images, one of ``SCHEMES``.
    """

    seed: bytes
    message: tuple[int, ...]
    created: str = ""
    scheme: str = "deep"

    def __post_init__(self):
        if len(self.seed) != 32:
            raise KeyFileError(f"key seed must be 32 bytes, got {len(self.seed)}")
        if len(self.message) < 8 or len(self.message) % 8 or set(self.message) - {0, 1}:
            raise KeyFileError(f"key message must be a multiple of 8 bits of 0/1, got {len(self.message)} values")
        if self.scheme not in SCHEMES:
            raise KeyFileError(f"key scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")

    @property
    def bits(self) -> int:
        """Message length k."""
        return len(self.message)

    def carried_bits(self) -> np.ndarray:
        """The k bits the watermark carries: message XOR the seed's keystream."""
        stream = hashlib.shake_256(b"wm-scramble-v1" + self.seed).digest(self.bits // 8)
        return np.bitwise_xor(np.asarray(self.message, np.uint8), _to_bits(stream, self.bits))

    @property
    def fingerprint(self) -> str:
        """A public 16-hex-digit identifier of the key (safe to print; reveals nothing of the seed)."""
        return hashlib.sha256(b"wm-fingerprint-v1" + self.seed + bytes(self.message)).hexdigest()[:16]


def generate_key(bits: int = 64, *, message: bytes | None = None, scheme: str = "deep") -> OwnerKey:
    """A new key with a random seed and a random message (or ``message``, ``bits`` // 8 bytes).

    Raises:
        KeyFileError: ``bits`` is not a multiple of 8 of at least 8, or ``message`` has the wrong length.
    """
    if bits < 8 or bits % 8:
        raise KeyFileError(f"--bits must be a multiple of 8, at least 8; got {bits}")
    if message is not None and len(message) != bits // 8:
        raise KeyFileError(f"message must be {bits // 8} bytes ({bits} bits), got {len(message)} bytes")
    msg = message if message is not None else secrets.token_bytes(bits // 8)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    return OwnerKey(secrets.token_bytes(32), tuple(int(b) for b in _to_bits(msg, bits)), now, scheme)


def save_key(key: OwnerKey, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``key`` to ``path`` as JSON readable by its owner only (mode 0600), atomically.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is off.
    """
    check_writable(path, force=force)
    doc = {
        "format": KEY_FORMAT,
        "version": KEY_VERSION,
        "bits": key.bits,
        "seed": key.seed.hex(),
        "message": np.packbits(np.asarray(key.message, np.uint8)).tobytes().hex(),
        "created": key.created,
        "scheme": key.scheme,
    }
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n", mode=0o600)


def load_key(path: str | os.PathLike) -> OwnerKey:
    """Read a key file written by ``save_key``.

    Raises:
        KeyFileError: missing or unreadable file, not a key, another version, unknown or bad fields.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}") from None
    except IsADirectoryError:
        raise KeyFileError(f"key file {path} is a folder") from None
    except PermissionError:
        raise KeyFileError(f"key file {path} cannot be read (permission denied)") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(f"{path} is not a wm key file (not JSON); make one with `wm keygen`") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{path} is not a wm key file (no \"format\": \"{KEY_FORMAT}\"); make one with `wm keygen`")
    if doc.get("version") != KEY_VERSION:
        raise KeyFileError(f"{path} is a version {doc.get('version')!r} key; this wm reads version {KEY_VERSION}")
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise KeyFileError(f"{path}: unknown key field {unknown[0]!r}")
    missing = sorted(_FIELDS - set(doc) - {"created", "scheme"})
    if missing:
        raise KeyFileError(f"{path}: missing key field {missing[0]!r}")
    try:
        seed = bytes.fromhex(doc["seed"])
        message = bytes.fromhex(doc["message"])
        bits = int(doc["bits"])
    except (TypeError, ValueError):
        raise KeyFileError(f"{path}: seed, message and bits must be hex strings and an integer") from None
    if len(message) * 8 != bits:
        raise KeyFileError(f"{path}: message has {len(message) * 8} bits but \"bits\" says {bits}")
    return OwnerKey(seed, tuple(int(b) for b in _to_bits(message, bits)), str(doc.get("created", "")),
                    str(doc.get("scheme", "deep")))
