"""Marking a large image in horizontal strips, so memory stays bounded at any size, with no seams.

``add_mark`` works on the whole image at once: about 30 bytes a pixel, 4 GiB for a 16K frame. Here
only the integer image, its marked copy and one strip of floats are alive. Every full-size step is local
or separable, so a strip computes exactly what the whole image would have given on those rows:

* the working-resolution copy H sees is the same anti-aliased bilinear shrink, done as its two
  separable passes (each strip shrunk along its rows, then the stacked rows shrunk down the columns);
* the residual's bilinear enlargement is separable too: a strip takes its rows from the two source rows
  each one interpolates, then enlarges along the rows;
* the detail gain looks 3 pixels around each pixel: a strip brings 3 real rows of each neighbour;
* the strength is set by the energy of the whole residual: a first pass sums it strip by strip, the
  second adds the scaled residual.

So the result equals ``add_mark``'s up to float rounding (tests/test_strips.py checks the seams).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .nets import Embedder
from .nets.embedder import texture_gain

__all__ = ["STRIP_PIXELS", "mark_in_strips"]

STRIP_PIXELS = 16_000_000  # images with more pixels than this are marked in strips (4K has 8.3 million)
_HALO = 3  # the detail gain's radius


def _rows(pixels: np.ndarray, top: int, bottom: int, peak: float) -> torch.Tensor:
    """Rows [top, bottom) as a (1,C,rows,W) float tensor in [0, peak], channels-last."""
    # A copy of the strip (small): writable, and uint16 widened (torch has few uint16 kernels).
    arr = np.array(pixels[top:bottom], dtype=np.int32 if pixels.dtype == np.uint16 else pixels.dtype)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float()


def _shrink(pixels: np.ndarray, size: int, peak: float, rows: int) -> torch.Tensor:
    """The (1,3,size,size) working copy in [0, 1], as ``codec.resize`` gives it, computed a strip at a time."""
    h, w = pixels.shape[:2]
    across = [F.interpolate(_rows(pixels, r, min(r + rows, h), peak).expand(-1, 3, -1, -1),
                            size=(min(r + rows, h) - r, size), mode="bilinear", antialias=size < w, align_corners=False)
              for r in range(0, h, rows)]
    return F.interpolate(torch.cat(across, dim=2), size=(size, size), mode="bilinear", antialias=size < h,
                         align_corners=False) / peak


def _enlarge_rows(res: torch.Tensor, h: int, w: int, top: int, bottom: int) -> torch.Tensor:
    """Rows [top, bottom) of the bilinear enlargement of ``res`` (1,C,s,s) to (h, w) (align_corners=False)."""
    s = res.shape[-2]
    src = ((torch.arange(top, bottom, dtype=torch.float64) + 0.5) * (s / h) - 0.5).clamp_min(0)
    y0 = src.floor().long().clamp_max(s - 1)
    y1 = (y0 + 1).clamp_max(s - 1)
    wy = (src - y0).to(res.dtype).view(1, 1, -1, 1)
    rows = res[:, :, y0] * (1 - wy) + res[:, :, y1] * wy
    return F.interpolate(rows, size=(bottom - top, w), mode="bilinear", align_corners=False)


def mark_in_strips(embedder: Embedder, pixels: np.ndarray, patterns: torch.Tensor, psnr: float, *, peak: float,
                   rows: int = 512) -> np.ndarray:
    """``pixels`` (H×W×C integers, C = 1 or 3, values up to ``peak``) marked as ``add_mark`` would, rounded,
    same dtype; worked ``rows`` rows at a time."""
    h, w, c = pixels.shape
    res = embedder(_shrink(pixels, embedder.size, peak, rows), None, patterns=patterns)
    if c == 1:
        res = res.mean(dim=1, keepdim=True)

    def strip(top: int, bottom: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(the image's rows [top, bottom) as floats, the residual there with the detail gain applied)."""
        lo, hi = max(top - _HALO, 0), min(bottom + _HALO, h)
        x = _rows(pixels, lo, hi, peak)
        r = _enlarge_rows(res, h, w, top, bottom)
        if embedder.detail_floor is not None:
            # Mirrored only at the picture's own edges; elsewhere the halo rows are used up by the box,
            # so the gain comes back with exactly the rows [top, bottom).
            r = r.mul_(texture_gain(x, embedder.detail_floor, peak=peak, rows=(lo == 0, hi == h)))
        return x[:, :, top - lo : bottom - lo], r

    energy = 0.0
    for top in range(0, h, rows):
        energy += float(strip(top, min(top + rows, h))[1].double().square().sum())
    scale = peak * 10 ** (-psnr / 20) / math.sqrt(energy / (h * w * c) + 1e-12)
    out = np.empty_like(pixels)
    for top in range(0, h, rows):
        bottom = min(top + rows, h)
        x, r = strip(top, bottom)
        marked = x.add_(r, alpha=scale).round_().clamp_(0, peak)[0].permute(1, 2, 0)
        out[top:bottom] = marked.numpy().astype(pixels.dtype)
    return out
