"""The secret trigger of trigger ("sleeper") protection: an invisible pattern the owner adds to probe inputs.

A model protected in trigger mode answers normal inputs as it always did and answers inputs that carry
the owner's trigger with marked outputs (SleeperMark, CVPR 2025, brought to image-to-image networks).
The trigger is a faint chroma pattern at the highest frequencies, two gratings (checkerboard and columns)
in two key-derived colour directions, 4/255 high: invisible, absent from natural photos (their spectra
fall off at those frequencies and cameras rarely alias in chroma), and local, so that even a network with a
small receptive field can notice it. The owner adds it to probe inputs with ``wm verify --trigger``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

__all__ = ["Trigger", "TRIGGER_AMPLITUDE"]

TRIGGER_AMPLITUDE = 4 / 255


class Trigger:
    """The trigger pattern of one key. ``apply`` adds it to a batch, ``apply_array`` to one H×W×3 image."""

    def __init__(self, colours: np.ndarray, amplitude: float = TRIGGER_AMPLITUDE):
        self.colours = np.asarray(colours, np.float32).reshape(2, 3)
        self.amplitude = float(amplitude)

    @classmethod
    def for_key(cls, key, amplitude: float = TRIGGER_AMPLITUDE) -> "Trigger":
        """The trigger of ``key`` (an ``OwnerKey``): colour directions drawn from its seed, orthogonal to grey."""
        digest = hashlib.shake_256(b"wm-trigger-v1" + key.seed).digest(32)
        rng = np.random.default_rng(np.frombuffer(digest, np.uint32))
        colours = rng.standard_normal((2, 3))
        colours -= colours.mean(axis=1, keepdims=True)  # no change of brightness: chroma only
        colours /= np.abs(colours).max(axis=1, keepdims=True)
        return cls(colours, amplitude)

    def pattern(self, height: int, width: int) -> np.ndarray:
        """The additive pattern, H×W×3 float32, values within ±``amplitude``."""
        y, x = np.mgrid[0:height, 0:width]
        checker, columns = (-1.0) ** (x + y), (-1.0) ** x
        p = checker[..., None] * self.colours[0] + columns[..., None] * self.colours[1]
        return (self.amplitude / 2 * p).astype(np.float32)

    def apply_array(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (H×W×3 float in [0, 1]) with the trigger added."""
        return np.clip(rgb + self.pattern(*rgb.shape[:2]), 0, 1).astype(np.float32)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """A batch (B,3,H,W in [0, 1]) with the trigger added."""
        p = torch.from_numpy(self.pattern(*images.shape[2:])).permute(2, 0, 1).to(images)
        return (images + p).clamp(0, 1)
