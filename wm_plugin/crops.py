"""Seeded random square crops of a set of images: what every fine-tuning loop here draws its batches from."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["RandomCrops", "as_float"]


def as_float(pixels: torch.Tensor) -> torch.Tensor:
    """``pixels`` as float32 in [0, 1]: uint8 ones divided by 255, float ones as they are."""
    return pixels.float() / 255 if pixels.dtype == torch.uint8 else pixels


class RandomCrops:
    """Batches of ``batch`` random ``side``-px crops (B,3,side,side) of H×W×3 images, float in [0, 1] or uint8
    (``read_images_compact``), drawn as float32 in [0, 1]; images smaller than ``side`` are padded by repeating
    their edges. Seeded: the same seed draws the same crops."""

    def __init__(self, images: Sequence[np.ndarray], side: int, batch: int, seed: int = 0):
        # C×H×W views of the caller's arrays, not copies: a folder of DIV2K-size photos is held once
        arrays = [np.ascontiguousarray(x, None if x.dtype == np.uint8 else np.float32) for x in images]
        tensors = [torch.from_numpy(x).permute(2, 0, 1) for x in arrays]
        self.images = [x if min(x.shape[1:]) >= side else
                       F.pad(as_float(x)[None], (0, max(0, side - x.shape[2]), 0, max(0, side - x.shape[1])),
                             mode="replicate")[0]
                       for x in tensors]
        self.side, self.batch = side, batch
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        """The next batch."""
        crops, g, side = [], self.generator, self.side
        for _ in range(self.batch):
            x = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            y0 = int(torch.randint(x.shape[1] - side + 1, (1,), generator=g))
            x0 = int(torch.randint(x.shape[2] - side + 1, (1,), generator=g))
            crops.append(as_float(x[:, y0 : y0 + side, x0 : x0 + side]))
        return torch.stack(crops)
