"""Training images that need no download: dead-leaves images and fractal noise.

Dead leaves (occluding disks with a power-law size law) reproduce the scale invariance, edges and flat
regions of natural photos; training restoration networks on them comes close to training on photos
(Achddou et al., "Synthetic images as a regularity prior for image restoration neural networks", 2021).
Fractal (1/f^beta) noise adds smooth gradients and fine texture.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dead_leaves", "fractal_noise", "procedural_image"]


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A colour with natural-image statistics: mostly muted, sometimes saturated."""
    grey = rng.uniform(0.05, 0.95)
    tint = rng.normal(0, 0.2 if rng.random() < 0.2 else 0.05, 3)
    return np.clip(grey + tint, 0, 1)


def _fill(rng: np.random.Generator, h: int, w: int, colour: np.ndarray) -> np.ndarray:
    """A flat colour, a shaded gradient or a grating, inside one leaf's bounding box."""
    kind = rng.random()
    if kind < 0.6:
        return np.broadcast_to(colour, (h, w, 3))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind < 0.85:
        g = (x * rng.normal() + y * rng.normal()) / max(h, w)
        return np.clip(colour + 0.2 * g[..., None] * rng.normal(size=3), 0, 1)
    period = rng.uniform(2.5, 12)
    theta = rng.uniform(0, np.pi)
    wave = np.sin(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / period)
    return np.clip(colour + rng.uniform(0.05, 0.3) * wave[..., None], 0, 1)


def dead_leaves(rng: np.random.Generator, size: int, *, rmin: float = 1.0, rmax: float | None = None,
                max_leaves: int = 5000) -> np.ndarray:
    """A ``size``×``size``×3 float32 dead-leaves image in [0, 1], drawn front to back.

    Drawing stops when 99.5% of the image is covered (or after ``max_leaves``); the last gaps show a
    shaded background, as a far-away surface would.
    """
    rmax = rmax or size / 2
    img = _fill(rng, size, size, _colour(rng)).astype(np.float32)
    free = np.ones((size, size), bool)
    left = free.size
    # Radii with density ~ r^-3 on [rmin, rmax], by inverse transform sampling.
    a, b = rmin ** -2, rmax ** -2
    for _ in range(max_leaves):
        r = (a - rng.random() * (a - b)) ** -0.5
        cy, cx = rng.uniform(-r, size + r, 2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, size)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & free[y0:y1, x0:x1]
        n = int(disk.sum())
        if not n:
            continue
        img[y0:y1, x0:x1][disk] = _fill(rng, y1 - y0, x1 - x0, _colour(rng))[disk]
        free[y0:y1, x0:x1] &= ~disk
        left -= n
        if left < 0.005 * free.size:
            break
    return img


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an H×W×3 image over H and W (as ``scipy.ndimage.gaussian_filter``: truncate 4, reflect)."""
    radius = int(4.0 * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * t**2 / sigma**2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(radius, radius) if a == axis else (0, 0) for a in range(3)]
        padded = np.pad(img, pad, mode="symmetric")
        n = img.shape[axis]
        img = sum(w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(k))
    return img.astype(np.float32)


def fractal_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``size``×``size``×3 float32 image of coloured 1/f^beta noise in [0, 1]."""
    beta = rng.uniform(1.6, 3.2)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    amp = np.hypot(fy, fx).clip(1.0 / size) ** (-beta / 2)
    out = np.empty((size, size, 3), np.float32)
    base = rng.normal(size=(size, size // 2 + 1)) + 1j * rng.normal(size=(size, size // 2 + 1))
    for c in range(3):
        own = rng.normal(size=base.shape) + 1j * rng.normal(size=base.shape)
        field = np.fft.irfft2(amp * (base + 0.4 * own), s=(size, size))
        out[..., c] = (field - field.mean()) / (field.std() + 1e-8)
    return np.clip(0.5 + out * rng.uniform(0.08, 0.25), 0, 1)


def procedural_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One training image: dead leaves (two thirds, some out of focus) or fractal noise."""
    if rng.random() < 2 / 3:
        # Drawn at twice the size and averaged 2×2, so edges are anti-aliased like a camera's.
        big = dead_leaves(rng, 2 * size, rmin=rng.uniform(3.0, 24.0))
        img = big.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))
        if rng.random() < 0.3:  # out-of-focus regions: natural photos have them, leaves alone do not
            img = _blur(img, rng.uniform(0.5, 3.0))
        return img
    return fractal_noise(rng, size)
