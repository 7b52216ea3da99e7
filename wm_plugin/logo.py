"""Logo mode: the owner's message is a small black-and-white logo, and a reading shows it.

The seed paper (Zhang et al., AAAI 2020) embeds a logo image and its extractor returns the logo from marked
images and a blank image from clean ones, judged by NC (normalized correlation). Here a k-bit message is a
√k × √k logo (8×8 for 64 bits): ``wm keygen --logo`` makes the message from any image, and the recovered
logo is the soft reading of the bits, unscrambled with the key: white and black where the bits read
confidently, mid-grey where the extractor reads nothing, as on a clean image. The verdict is still the
exact test of ``wm_plugin.verify``; NC (``wm_plugin.verify.normalized_correlation``) is reported beside it.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from .errors import KeyFileError
from .io import read_image
from .keys import OwnerKey

__all__ = ["logo_side", "logo_message", "recovered_logo", "logo_picture"]


def logo_side(bits: int) -> int:
    """The side of a ``bits``-bit logo.

    Raises:
        KeyFileError: ``bits`` is not a square number.
    """
    side = math.isqrt(bits)
    if side * side != bits:
        raise KeyFileError(f"a logo needs a square number of bits (64 = 8×8, 256 = 16×16); got {bits}")
    return side


def logo_message(path: str | os.PathLike, bits: int = 64) -> bytes:
    """The ``bits``-bit message of the logo in ``path``: the image shrunk to √bits × √bits (box filter) and
    thresholded at its mean luminance, bright pixels 1, row by row.

    Raises:
        KeyFileError: ``bits`` is not a square number, or the logo is one flat colour (it would carry nothing).
        ImageError: ``path`` is not a readable image.
    """
    side = logo_side(bits)
    grey = read_image(path).rgb_float().mean(axis=2)
    small = np.asarray(Image.fromarray(grey.astype(np.float32), mode="F").resize((side, side), Image.Resampling.BOX))
    if np.ptp(small) < 1e-3:
        raise KeyFileError(f"{path}: the logo is one flat colour at {side}×{side}; use an image with a shape in it")
    return np.packbits((small > small.mean()).reshape(-1).astype(np.uint8)).tobytes()


def recovered_logo(votes: np.ndarray, key: OwnerKey) -> np.ndarray:
    """The logo a reading shows: the soft bits ``votes`` (k,) in [-1, 1] (``Verdict.votes``), unscrambled
    with ``key``, as a √k × √k uint8 image (255 white, 0 black, 128 nothing read)."""
    side = logo_side(key.bits)
    flips = np.bitwise_xor(np.asarray(key.message, np.uint8), key.carried_bits())  # the keystream
    message_votes = np.asarray(votes, np.float64) * (1 - 2.0 * flips)
    return np.rint((message_votes + 1) / 2 * 255).clip(0, 255).astype(np.uint8).reshape(side, side)


def logo_picture(logo: np.ndarray, size: int = 256) -> np.ndarray:
    """``logo`` enlarged to about ``size`` px a side, pixels kept square and sharp (for viewing)."""
    factor = max(1, size // logo.shape[0])
    return np.kron(logo, np.ones((factor, factor), np.uint8))
