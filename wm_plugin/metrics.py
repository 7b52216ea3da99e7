"""Image-quality measures used as training losses and in reports: PSNR and (differentiable) SSIM."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim", "picture_psnr"]


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB between batches ``a`` and ``b`` in [0, 1]."""
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


@functools.lru_cache(maxsize=8)
def _window(channels: int, size: int = 11, sigma: float = 1.5, device: str = "cpu") -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous().to(device)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean SSIM (Wang et al. 2004: 11×11 Gaussian window, sigma 1.5) for batches in [0, 1]."""
    c = a.shape[1]
    w = _window(c, device=str(a.device)).to(a.dtype)
    mu_a, mu_b = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    var_a = F.conv2d(a * a, w, groups=c) - mu_a**2
    var_b = F.conv2d(b * b, w, groups=c) - mu_b**2
    cov = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def picture_psnr(a, b, *, rows: int = 256) -> float:
    """PSNR in dB between the colour channels of two ``Picture`` objects of the same size and depth.

    Exact integer arithmetic, ``rows`` rows at a time: an 8K image needs no full-size copy.
    """
    total = 0
    for top in range(0, a.pixels.shape[0], rows):
        diff = a.pixels[top : top + rows].astype(np.int64) - b.pixels[top : top + rows]
        total += int(np.square(diff, out=diff).sum())
    mse = total / a.pixels.size / float(a.max_value) ** 2
    return 10 * float(np.log10(1 / mse)) if mse > 0 else float("inf")
