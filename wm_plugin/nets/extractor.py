"""Extractor R: bit logits from a (possibly edited) image at working resolution.

Provenance: the decoder of HiDDeN (Zhu et al., ECCV 2018) and the extractor R of Zhang et al. (AAAI 2020),
made small for CPU use: a full-resolution whitening layer (it learns to suppress the host image), strided
convolutions down to a 16×16 grid, and a linear read-out per bit. Adaptive pooling before the read-out lets
any input size through, but the codec always feeds the working resolution it was trained at.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import register_net

__all__ = ["Extractor"]


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GELU()]


class Extractor(nn.Module):
    """R: ``image -> logits`` (B,k); a positive logit reads bit 1.

    Args:
        bits: message length k.
        size: working resolution the codec resizes images to.
        width: channels after the first downsampling; doubles once.
        grid: side of the pooled grid the linear read-out sees.
    """

    def __init__(self, bits: int = 64, size: int = 256, width: int = 32, grid: int = 16):
        super().__init__()
        self.config = {"bits": bits, "size": size, "width": width, "grid": grid}
        self.bits, self.size = bits, size
        self.features = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, padding=1),
            nn.GELU(),
            *_down(width // 2, width),
            *_down(width, 2 * width),
            *_down(2 * width, 2 * width),
            *_down(2 * width, width),
            nn.AdaptiveAvgPool2d(grid),
        )
        self.readout = nn.Linear(width * grid * grid, bits)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Bit logits for ``image`` (B,3,H,W in [0,1])."""
        return self.readout(self.features(image * 2 - 1).flatten(1))

    @torch.no_grad()
    def center_logits_(self, offsets: torch.Tensor) -> "Extractor":
        """Subtract per-bit ``offsets`` (k,) from every future logit, in place (see stage 1's calibration)."""
        self.readout.bias -= offsets.to(self.readout.bias)
        return self


def _create_extractor(**kwargs) -> Extractor:
    return Extractor(**kwargs)


@register_net
def extractor_256(**kwargs) -> Extractor:
    """Default extractor: 64 bits at a 256×256 working resolution."""
    return _create_extractor(**{"bits": 64, "size": 256, "width": 32, "grid": 16, **kwargs})
