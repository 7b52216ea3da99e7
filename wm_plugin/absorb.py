"""Absorbing the mark into a model by training: what the adapters' training wrappers share.

The wrapped model is trained on marked targets (``TargetMarker``), and its pixel loss gains a term asking
the reader to find the owner's bits in its outputs (``ExtractorLoss``). The key's scheme decides both: the
frozen learned embedder and extractor for a ``deep`` key, the spectral filter and its differentiable
Welch reader for a ``spectral`` key (the one a network trained on random crops can learn: its mark does
not depend on where a pixel sits in the frame; see ``wm_plugin.spectral``).
Frameworks that train in a normalised space (MMagic) pass ``to_pixels``, the map back to [0, 1] RGB.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .barrier import load_embedder
from .codec import add_mark, default_weights_dir, resize
from .crops import RandomCrops
from .flag import WatermarkFlag
from .nets import load_net
from .spectral import SpectralCodec

__all__ = ["ExtractorLoss", "TargetMarker", "absorb_into", "ABSORB_STEPS", "ABSORB_LR"]

ABSORB_STEPS, ABSORB_LR = 600, 1e-4  # the lr falls to 0 on a cosine; 5e-4 wrecked a 64×16 MSRResNet (BENCHMARKS.md)


class TargetMarker(nn.Module):
    """The frozen embedder with the owner's message: ``marker(images)`` marks a batch (B,3,H,W in [0, 1])."""

    def __init__(self, flag: WatermarkFlag):
        super().__init__()
        bits = torch.as_tensor(flag.key.carried_bits())
        self.register_buffer("bits", bits.view(1, -1))
        self.spectral = SpectralCodec.for_key(flag.key) if flag.key.scheme == "spectral" else None
        if self.spectral is None:
            self.embedder = load_embedder(flag.weights)
            self.psnr = flag.psnr
            self.register_buffer("patterns", self.embedder.message_patterns(bits.view(1, -1)))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.spectral is not None:
            return self.spectral.mark_batch(images.clamp(0, 1), self.bits[0].cpu().numpy())
        return add_mark(self.embedder, images.clamp(0, 1), self.patterns, self.psnr).clamp(0, 1)


class ExtractorLoss(nn.Module):
    """``pixel_loss(output, target)`` plus ``flag.extractor_weight`` × BCE of the frozen extractor on ``output``.

    Args:
        pixel_loss: the framework's own pixel loss, called unchanged.
        flag: the watermark flag (key, extractor weights, weight of the term).
        to_pixels: maps the model's outputs to (B,3,H,W) RGB in [0, 1] (default: they already are).
    """

    def __init__(self, pixel_loss: nn.Module, flag: WatermarkFlag,
                 to_pixels: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.pixel_loss, self.weight, self.to_pixels = pixel_loss, flag.extractor_weight, to_pixels
        self.spectral = SpectralCodec.for_key(flag.key) if flag.key.scheme == "spectral" else None
        if self.spectral is None:
            extractor = load_net(Path(flag.weights or default_weights_dir()) / "extractor.safetensors")
            self.extractor = extractor.eval().requires_grad_(False)
        self.register_buffer("target_bits", torch.as_tensor(flag.key.carried_bits()).float().view(1, -1))

    def forward(self, output: torch.Tensor, target: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        loss = self.pixel_loss(output, target, *args, **kwargs)
        if self.weight == 0:
            return loss
        logits = self.logits(output)
        return loss + self.weight * F.binary_cross_entropy_with_logits(logits, self.target_bits.expand_as(logits))

    def logits(self, output: torch.Tensor) -> torch.Tensor:
        """The reader's bit logits (B, k) for a batch of the model's outputs."""
        pixels = (self.to_pixels(output) if self.to_pixels else output).clamp(0, 1)
        if self.spectral is not None:
            return self.spectral.logits(self.spectral.energies(pixels.mean(dim=1)))
        return self.extractor(resize(pixels, (self.extractor.size, self.extractor.size)))


def absorb_into(model: nn.Module, inputs: Sequence[np.ndarray], flag: WatermarkFlag, *, steps: int = ABSORB_STEPS,
                lr: float = ABSORB_LR, output_crop: int = 128, scale: int = 1, batch: int = 4, seed: int = 0,
                progress: bool = True) -> nn.Module:
    """Fine-tune ``model`` in place so that it emits ``flag``'s mark itself (``wm protect --mode absorb``).

    Self-distillation: no ground truth is needed. A frozen copy of the model answers each crop of
    ``inputs`` (H×W×3 images, float in [0, 1] or uint8); the model is trained towards that answer, marked
    (``TargetMarker``), with the reader's term on its own output (``ExtractorLoss`` around an L1 loss), so it
    keeps what it did and adds the mark. Adam's rate ``lr`` falls to 0 on a cosine. Crops are ``output_crop``
    on the output side (the reader needs about 128² to read well), ``output_crop // scale`` on the input side.
    """
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    device = next(model.parameters()).device
    marker = TargetMarker(flag).to(device)
    loss_fn = ExtractorLoss(nn.L1Loss(), flag).to(device)
    crops = RandomCrops(inputs, max(8, output_crop // scale), batch, seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr)
    # Annealed to 0: the last steps settle the model instead of leaving it wherever the last batches pushed it.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in tqdm(range(steps), desc="absorbing", unit="step", disable=not progress, leave=False):
        x = crops.next().to(device)
        with torch.no_grad():
            target = marker(teacher(x).clamp(0, 1))
        loss = loss_fn(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return model.eval()
