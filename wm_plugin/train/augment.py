"""Distortions applied between embedder and extractor while training, so the extractor learns to read
marks that went through the edits images meet (JPEG, noise, blur, rescaling, colour changes).

Every distortion keeps a gradient path to the marked image: the differentiable ones directly, JPEG and
8-bit rounding by the straight-through estimator (forward the real thing, backward the identity).
"""

from __future__ import annotations

import io
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["straight_through", "quantize8", "jpeg", "gaussian_blur", "resize_roundtrip", "random_distortion"]


def straight_through(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` in the forward pass, the gradient of ``x`` in the backward pass."""
    return x + (y - x).detach()


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to 8-bit levels, as saving a PNG does."""
    return straight_through(x, x.clamp(0, 1).mul(255).round().div(255))


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Real JPEG compression (Pillow, 4:2:0) of each image in the batch, straight-through."""
    out = torch.empty_like(x)
    arr = x.detach().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    for i, a in enumerate(arr):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255
        out[i] = torch.from_numpy(dec).permute(2, 0, 1)
    return straight_through(x, out)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def resize_roundtrip(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Downscale by ``scale`` (anti-aliased) and back up, as a thumbnail that is enlarged again."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def _colour_jitter(x: torch.Tensor, rng: random.Random) -> torch.Tensor:
    gain = 1 + rng.uniform(-0.15, 0.15)
    bias = rng.uniform(-0.06, 0.06)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return ((x - mean) * rng.uniform(0.85, 1.15) + mean) * gain + bias


def random_distortion(x: torch.Tensor, rng: random.Random, strength: float = 1.0) -> torch.Tensor:
    """One random distortion per image; ``strength`` in [0, 1] ramps how hard they are (curriculum)."""
    out = []
    for img in x.split(1):
        kind = rng.choice(["none", "jpeg", "jpeg", "noise", "blur", "resize", "colour"])
        if kind == "jpeg":
            img = jpeg(img, round(95 - strength * rng.uniform(0, 45)))
        elif kind == "noise":
            img = img + torch.randn_like(img) * strength * rng.uniform(0, 6 / 255)
        elif kind == "blur":
            img = gaussian_blur(img, 0.3 + strength * rng.uniform(0, 0.9))
        elif kind == "resize":
            img = resize_roundtrip(img, 1 - strength * rng.uniform(0, 0.5))
        elif kind == "colour":
            img = _colour_jitter(img, rng)
        out.append(img)
    return quantize8(torch.cat(out))
