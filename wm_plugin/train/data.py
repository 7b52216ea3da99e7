"""Training batches: procedural images (built in, no download) mixed with crops of the user's folders."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..crops import as_float
from ..io import list_images, read_image
from .procedural import procedural_image

__all__ = ["TrainingImages"]


def _procedural_chunk(args: tuple[int, int, int]) -> np.ndarray:
    seed, count, size = args
    rng = np.random.default_rng(seed)
    return np.stack([(procedural_image(rng, size) * 255).round().astype(np.uint8) for _ in range(count)])


def _procedural_pool(count: int, size: int, seed: int, cache_dir: Path | None, workers: int) -> torch.Tensor:
    cache = cache_dir / f"procedural_{size}px_{count}_seed{seed}.npy" if cache_dir else None
    if cache and cache.exists():
        return torch.from_numpy(np.load(cache))
    splits = np.array_split(np.arange(count), 16)
    chunks = [(seed * 1000 + i, len(split), size) for i, split in enumerate(splits) if len(split)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_procedural_chunk, chunks)
    else:
        parts = [_procedural_chunk(c) for c in chunks]
    if not chunks:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    arr = np.concatenate(parts).transpose(0, 3, 1, 2).copy()
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, cache)
    return torch.from_numpy(arr)


class TrainingImages:
    """An endless source of ``size``×``size`` RGB training images in [0, 1].

    Args:
        size: side of the square crops.
        procedural: how many procedural images to draw once (cached in ``cache_dir`` when given).
        folders: image folders (the user's ``--data``); crops are taken at random scales.
        folder_share: share of each batch taken from the folders when there are any.
        seed: seeds the procedural images.
    """

    def __init__(
        self,
        size: int,
        *,
        procedural: int = 1024,
        folders: tuple[str, ...] = (),
        folder_share: float = 0.5,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        workers: int = 1,
    ):
        self.size = size
        self.pool = _procedural_pool(procedural, size, seed, Path(cache_dir) if cache_dir else None, workers)
        self.photos = [
            torch.from_numpy(read_image(p).rgb_compact()).permute(2, 0, 1)  # 8-bit photos held as uint8
            for folder in folders
            for p in list_images([folder])
        ]
        self.photos = [p for p in self.photos if min(p.shape[-2:]) >= size // 2]
        self.folder_share = folder_share if self.photos else 0.0
        if not len(self.pool) and not self.photos:
            raise ValueError("no training images: give procedural > 0 or a folder with images")

    def _crop(self, photo: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        h, w = photo.shape[-2:]
        # Random scale between "crop at native resolution" and "whole short side".
        lo, hi = self.size, min(h, w)
        side = int(lo + torch.rand((), generator=g) * (hi - lo)) if hi > lo else hi
        y = int(torch.randint(0, h - side + 1, (), generator=g))
        x = int(torch.randint(0, w - side + 1, (), generator=g))
        crop = as_float(photo[:, y : y + side, x : x + side]).unsqueeze(0)
        if side != self.size:
            crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", antialias=True,
                                 align_corners=False)
        return crop[0]

    def batch(self, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` images (n,3,size,size), with random flips, 90° turns and colour-channel orders."""
        out = []
        for _ in range(n):
            if self.photos and (not len(self.pool) or torch.rand((), generator=g) < self.folder_share):
                img = self._crop(self.photos[int(torch.randint(len(self.photos), (), generator=g))], g)
            else:
                img = as_float(self.pool[int(torch.randint(len(self.pool), (), generator=g))])
            if torch.rand((), generator=g) < 0.5:
                img = img.flip(-1)
            img = torch.rot90(img, int(torch.randint(4, (), generator=g)), dims=(-2, -1))
            img = img[torch.randperm(3, generator=g)]
            out.append(img.clamp(0, 1))
        return torch.stack(out)
