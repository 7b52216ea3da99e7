"""Extractor R and discriminator D on a timm backbone chosen by name: ``timm_extractor``, ``timm_discriminator``.

timm builds any of its image models by name; here always without pretrained weights (nothing downloads):
the backbone is trained from scratch by ``wm train``, like the built-in networks, so an owner can trade
speed for robustness (``wm train --extractor-backbone resnet18``). The built-in extractor is a 0.6 M-parameter
CNN made for the CPU; a timm ResNet or ConvNeXt is larger and slower. timm is an optional dependency
(``pip install timm``); the weights file names the backbone, so ``load_net`` rebuilds it.
"""

from __future__ import annotations

import difflib

import torch
import torch.nn as nn

from ..errors import ConfigError
from ._registry import register_net

__all__ = ["TimmExtractor", "TimmDiscriminator", "timm_backbone"]


def timm_backbone(name: str, outputs: int) -> nn.Module:
    """timm's model ``name``, untrained, with a ``outputs``-wide head.

    Raises:
        ConfigError: timm is not installed, or has no model of that name (close names listed).
    """
    from ..torchvision_ops import declare_torchvision_ops

    declare_torchvision_ops()  # timm imports torchvision, which needs this beside the CPU build of torch
    try:
        import timm
    except ImportError:
        raise ConfigError(f"backbone {name!r} needs timm: pip install timm") from None
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise ConfigError(f"timm has no model {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    return timm.create_model(name, pretrained=False, num_classes=outputs)


class TimmExtractor(nn.Module):
    """R on a timm backbone: ``image -> logits`` (B,k), as ``Extractor``.

    Args:
        backbone: a timm model name (``timm.list_models()``).
        bits: message length k.
        size: working resolution the codec resizes images to.
    """

    def __init__(self, backbone: str, bits: int = 64, size: int = 256):
        super().__init__()
        self.config = {"backbone": backbone, "bits": bits, "size": size}
        self.bits, self.size = bits, size
        self.body = timm_backbone(backbone, bits)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Bit logits for ``image`` (B,3,H,W in [0,1])."""
        return self.body(image * 2 - 1)

    @torch.no_grad()
    def center_logits_(self, offsets: torch.Tensor) -> "TimmExtractor":
        """Subtract per-bit ``offsets`` (k,) from every future logit, in place (see stage 1's calibration)."""
        head = self.body.get_classifier()
        if not isinstance(head, nn.Linear) or head.bias is None:
            raise ConfigError(f"backbone {self.config['backbone']!r}: its head is not a linear layer with a bias")
        head.bias -= offsets.to(head.bias)
        return self


class TimmDiscriminator(nn.Module):
    """D on a timm backbone: ``image -> score`` (B,1); LSGAN targets 1 for clean, 0 for marked."""

    def __init__(self, backbone: str):
        super().__init__()
        self.config = {"backbone": backbone}
        self.body = timm_backbone(backbone, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Scores for ``image`` (B,3,H,W in [0,1])."""
        return self.body(image * 2 - 1)


@register_net
def timm_extractor(**kwargs) -> TimmExtractor:
    """Extractor on the timm backbone named by ``backbone``: 64 bits at 256×256 unless told."""
    return TimmExtractor(**{"bits": 64, "size": 256, **kwargs})


@register_net
def timm_discriminator(**kwargs) -> TimmDiscriminator:
    """Discriminator on the timm backbone named by ``backbone``."""
    return TimmDiscriminator(**kwargs)
