"""Edits a marked image meets after it leaves the model: compression, rescaling, cropping, noise, blur.

Each edit maps an H×W×3 uint8 image to another uint8 image (possibly of another size). They are named
like ``jpeg90`` or ``resize0.5`` so a benchmark table can list them; ``apply_edit`` builds one by name.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["EDITS", "apply_edit", "list_edits", "jpeg", "resize", "crop", "gaussian_noise", "blur"]


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG at ``quality`` (Pillow, 4:2:0 chroma subsampling) and back."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize(img: np.ndarray, scale: float) -> np.ndarray:
    """Rescale both sides by ``scale`` (Lanczos), as a thumbnail or an enlargement."""
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))


def crop(img: np.ndarray, area: float) -> np.ndarray:
    """The central crop that keeps ``area`` of the pixels (same aspect ratio)."""
    h, w = img.shape[:2]
    s = area**0.5
    ch, cw = max(1, round(h * s)), max(1, round(w * s))
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y : y + ch, x : x + cw].copy()


def gaussian_noise(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` (in units of the 0..1 range), seeded."""
    noise = np.random.default_rng(seed).normal(0, sigma * 255, img.shape)
    return np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)


def blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of ``radius`` pixels (Pillow)."""
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda img: img,
    "jpeg90": lambda img: jpeg(img, 90),
    "jpeg75": lambda img: jpeg(img, 75),
    "jpeg50": lambda img: jpeg(img, 50),
    "resize0.5": lambda img: resize(img, 0.5),
    "resize2": lambda img: resize(img, 2.0),
    "crop50%": lambda img: crop(img, 0.5),
    "noise2/255": lambda img: gaussian_noise(img, 2 / 255),
    "blur1": lambda img: blur(img, 1.0),
}


def list_edits() -> list[str]:
    """Names of the edits, in table order."""
    return list(EDITS)


def apply_edit(name: str, img: np.ndarray) -> np.ndarray:
    """Apply the edit called ``name`` to an H×W×3 uint8 image.

    Raises:
        KeyError: unknown edit name (the message lists the known ones).
    """
    if name not in EDITS:
        raise KeyError(f"unknown edit {name!r}; known: {', '.join(EDITS)}")
    return EDITS[name](img)
