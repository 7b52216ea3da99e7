"""The library's front door: mark pictures, read them, verify a set of them against a key."""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .codec import DEFAULT_PSNR, WatermarkCodec
from .errors import WatermarkError
from .io import Picture, read_image
from .keys import OwnerKey
from .spectral import SpectralCodec
from .verify import DEFAULT_FPR, Verdict, verdict

__all__ = ["codec_for", "embed", "extract", "extract_files", "verify", "verify_files"]


def codec_for(key: OwnerKey | None, *, weights: str | os.PathLike | None = None, device: str = "cpu",
              psnr: float | None = None) -> WatermarkCodec | SpectralCodec:
    """The codec that writes and reads ``key``'s scheme: the learned networks of ``weights`` (default: the
    shipped ones) at ``psnr`` for a ``deep`` key (or no key yet), the key's spectral filter for a ``spectral`` key.

    Raises:
        WatermarkError: ``weights`` or ``psnr`` given for a spectral key (it has no networks and no PSNR).
    """
    if key is not None and key.scheme == "spectral":
        for name, value in (("weights", weights), ("psnr", psnr)):
            if value is not None:
                raise WatermarkError(f"--{name} applies to the learned networks; this key uses the spectral scheme")
        return SpectralCodec.for_key(key, device=device)
    return WatermarkCodec.from_pretrained(weights, device=device, psnr=DEFAULT_PSNR if psnr is None else psnr)


def embed(picture: Picture, key: OwnerKey, *, codec: WatermarkCodec) -> Picture:
    """``picture`` marked with ``key``: same size, bit depth, greyness and alpha.

    Raises:
        WeightsError: the networks carry a different number of bits than the key.
    """
    return dataclasses.replace(picture, pixels=codec.mark(picture.pixels, key.carried_bits()))


def extract(pictures: Sequence[Picture], *, codec: WatermarkCodec) -> np.ndarray:
    """Bit logits (n, k) of ``pictures``; a positive logit reads bit 1."""
    return codec.extract([p.pixels for p in pictures])


def extract_files(paths: Sequence[str | os.PathLike], *, codec: WatermarkCodec, batch: int = 16,
                  progress: bool = True) -> np.ndarray:
    """Bit logits (n, k) of image files, read one at a time (memory stays bounded for any count)."""
    out, pending = [], []
    for path in tqdm(paths, desc="reading", unit="img", disable=not progress or len(paths) < 2, leave=False):
        pending.append(codec.shrink(read_image(path).pixels))
        if len(pending) == batch:
            out.append(codec.read(torch.stack(pending)))
            pending = []
    if pending:
        out.append(codec.read(torch.stack(pending)))
    return np.concatenate(out) if out else np.zeros((0, codec.bits), np.float32)


def verify(names: Sequence[str], logits: np.ndarray, key: OwnerKey, *, fpr_target: float = DEFAULT_FPR) -> Verdict:
    """The verdict for images whose logits were read with ``extract``; see ``wm_plugin.verify``."""
    return verdict(list(names), logits, key.carried_bits(), fpr_target=fpr_target)


def verify_files(paths: Iterable[str | os.PathLike], key: OwnerKey, *, codec: WatermarkCodec,
                 fpr_target: float = DEFAULT_FPR, progress: bool = True) -> Verdict:
    """Read every image in ``paths`` and test them together against ``key``."""
    paths = list(paths)
    logits = extract_files(paths, codec=codec, progress=progress)
    return verify([str(p) for p in paths], logits, key, fpr_target=fpr_target)
