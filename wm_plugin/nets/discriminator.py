"""Discriminator D: a small PatchGAN that tells marked images from clean ones (LSGAN objective).

Provenance: PatchGAN (Isola et al., pix2pix, CVPR 2017), used as D by Zhang et al. (AAAI 2020). Spectral
normalization keeps it from overpowering the tiny residual it judges; used only in training, never shipped.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from ._registry import register_net

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """D: ``image -> patch scores`` (B,1,h,w); LSGAN targets 1 for clean, 0 for marked."""

    def __init__(self, width: int = 16, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = []
        cin = 3
        for i in range(layers):
            cout = width << i
            blocks += [spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            cin = cout
        blocks.append(spectral_norm(nn.Conv2d(cin, 1, 3, padding=1)))
        self.body = nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Patch scores for ``image`` (B,3,H,W in [0,1])."""
        return self.body(image * 2 - 1)


@register_net
def patch_discriminator(**kwargs) -> PatchDiscriminator:
    """Default discriminator: three stride-2 layers from 16 channels."""
    return PatchDiscriminator(**{"width": 16, "layers": 3, **kwargs})
