"""The restoration tasks an attacker trains on: clean images in, (degraded input, clean target) pairs out.

A thief who fine-tunes a stolen model, or trains a surrogate, does it on the model's own task: ×s super-
resolution (bicubic downscaling), denoising (Gaussian noise, σ = 25/255) or deraining (synthetic streaks).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..train.procedural import procedural_image

__all__ = ["TASKS", "check_task", "degrade", "degrade_image", "default_task", "procedural_clean"]

TASKS = ("sr", "denoise", "derain")
NOISE_SIGMA = 25 / 255


def default_task(scale: int) -> str:
    """The task a model of this scale most likely serves: super-resolution above 1, else denoising."""
    return "sr" if scale > 1 else "denoise"


def procedural_clean(n: int = 32, size: int = 192, seed: int = 1) -> list[np.ndarray]:
    """``n`` procedural clean images of ``size`` px (H×W×3 float32 in [0, 1]): the thief's data when none is
    given. Seed 1: not the images ``wm protect`` trains on (seed 0)."""
    rng = np.random.default_rng(seed)
    return [procedural_image(rng, size).astype(np.float32) for _ in range(n)]


def check_task(task: str, scale: int) -> None:
    """Raise ``ValueError`` for an unknown task, or one a ×``scale`` model cannot serve (only sr upscales)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if (task == "sr") != (scale > 1):
        raise ValueError(f"task {task!r} does not fit a ×{scale} model")


def degrade(clean: torch.Tensor, task: str, *, scale: int = 1,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """The model input for the clean targets ``clean`` (B,3,H,W in [0, 1]; H, W multiples of ``scale``).

    Raises:
        ValueError: an unknown task, or a scale the task cannot have.
    """
    check_task(task, scale)
    if task == "sr":
        small = F.interpolate(clean, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        return small.clamp(0, 1)
    if task == "denoise":
        noise = torch.randn(clean.shape, generator=generator).to(clean)
        return (clean + NOISE_SIGMA * noise).clamp(0, 1)
    return (clean + rain_streaks(clean.shape, generator=generator).to(clean)).clamp(0, 1)


def degrade_image(image: np.ndarray, task: str, *, scale: int = 1,
                  generator: torch.Generator | None = None) -> np.ndarray:
    """``degrade`` for one H×W×3 float image in [0, 1]: the model input for that clean image."""
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
    return degrade(x, task, scale=scale, generator=generator)[0].permute(1, 2, 0).numpy()


def rain_streaks(shape: torch.Size, *, generator: torch.Generator | None = None, density: float = 0.004,
                 length: int = 15, brightness: float = 0.7) -> torch.Tensor:
    """Synthetic rain (B,1,H,W, broadcast over colour): sparse drops smeared along one slanted line per image."""
    b, _, h, w = shape
    drops = (torch.rand(b, 1, h, w, generator=generator) < density).float()
    drops = drops * (0.5 + 0.5 * torch.rand(b, 1, h, w, generator=generator))
    out = torch.empty(b, 1, h, w)
    t = torch.arange(length) - length // 2
    for i in range(b):
        angle = math.radians(float(torch.empty(1).uniform_(-25, 25, generator=generator)))
        kernel = torch.zeros(length, length)
        ys = (t * math.cos(angle)).round().long() + length // 2
        xs = (t * math.sin(angle)).round().long() + length // 2
        kernel[ys, xs] = 1.0 / length
        out[i] = F.conv2d(drops[i : i + 1], kernel[None, None], padding=length // 2)[0]
    return (brightness * length * out).clamp(max=1.0)  # one drop: a streak of ``brightness`` × its strength
