"""Edits a marked image meets after it leaves the model: compression, rescaling, cropping, noise, blur.

Each edit maps an H×W×3 uint8 image to another uint8 image (possibly of another size). They are named by
form and strength, like ``jpeg90``, ``resize0.5`` or ``noise5/255``, so a benchmark table can list them;
``apply_edit`` builds one by name, ``list_edits`` names the default table.
"""

from __future__ import annotations

import io
import re
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["DEFAULT_EDITS", "apply_edit", "check_edit", "list_edits", "jpeg", "resize", "crop", "gaussian_noise",
           "blur"]


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


# form → (its name pattern, whether the number is a valid strength, the edit at that strength)
_FORMS: dict[str, tuple[re.Pattern, Callable[[float], bool], Callable[[float], Callable[[np.ndarray], np.ndarray]]]] = {
    "jpegQ": (re.compile(r"jpeg(\d+)"), lambda q: 1 <= q <= 100, lambda q: lambda img: jpeg(img, int(q))),
    "resizeS": (re.compile(r"resize(\d+(?:\.\d+)?)"), lambda s: s > 0, lambda s: lambda img: resize(img, s)),
    "cropA%": (re.compile(r"crop(\d+(?:\.\d+)?)%"), lambda a: 0 < a <= 100, lambda a: lambda img: crop(img, a / 100)),
    "noiseS/255": (re.compile(r"noise(\d+(?:\.\d+)?)/255"), lambda s: True,
                   lambda s: lambda img: gaussian_noise(img, s / 255)),
    "blurR": (re.compile(r"blur(\d+(?:\.\d+)?)"), lambda r: True, lambda r: lambda img: blur(img, r)),
}
DEFAULT_EDITS = ("none", "jpeg90", "jpeg75", "jpeg50", "resize0.5", "resize2", "crop50%", "noise2/255", "blur1")


def list_edits() -> list[str]:
    """Names of the default edits, in table order (``apply_edit`` takes any strength of each form)."""
    return list(DEFAULT_EDITS)


def _build(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name == "none":
        return lambda img: img
    for pattern, valid, make in _FORMS.values():
        if (m := pattern.fullmatch(name)) and valid(float(m[1])):
            return make(float(m[1]))
    raise KeyError(f"unknown edit {name!r}; known forms: none, {', '.join(_FORMS)} "
                   f"(e.g. {', '.join(DEFAULT_EDITS[1:])}; JPEG quality 1-100, crop area up to 100%)")


def check_edit(name: str) -> None:
    """Raise ``KeyError`` (listing the forms) if ``name`` is not an edit ``apply_edit`` knows."""
    _build(name)


def apply_edit(name: str, img: np.ndarray) -> np.ndarray:
    """Apply the edit called ``name`` (``jpeg60``, ``resize0.75``, ``crop25%``, ``noise5/255``, ``blur2``, …) to
    an H×W×3 uint8 image.

    Raises:
        KeyError: an unknown edit name (the message lists the forms).
    """
    return _build(name)(img)
