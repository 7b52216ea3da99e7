"""The perceptual loss a thief may train a surrogate with, on VGG19 weights the user supplies (nothing downloads).

The loss is the pixel and perceptual part of BasicSR's Real-ESRGAN recipe (its GAN term is the ``adv`` loss's
business): L1 between the images plus L1 between their VGG19 features before the ReLUs of conv1_2, conv2_2
(weight 0.1 each), conv3_4, conv4_4 and conv5_4 (1 each), on ImageNet-normalised inputs. The weights are
torchvision's ``vgg19`` state dict (BasicSR keeps it as ``experiments/pretrained_models/vgg19-dcbb9e9d.pth``),
``.pth`` or ``.safetensors``, read without running pickled code; only the feature layers are used.
"""

from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import read_state_dict
from ..errors import ConfigError, WeightsError

__all__ = ["LAYER_WEIGHTS", "PerceptualLoss", "load_vgg19_features"]

# Index in torchvision's vgg19().features of each convolution whose output (before its ReLU) is compared.
LAYER_WEIGHTS = {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}  # conv1_2, conv2_2, conv3_4, conv4_4, conv5_4
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def load_vgg19_features(path: str | os.PathLike) -> nn.Sequential:
    """torchvision's VGG19 feature layers up to conv5_4, with the weights of ``path``, frozen, in eval mode.

    Raises:
        ConfigError: torchvision is not installed.
        WeightsError: the file is missing, unsafe to load, or holds no VGG19 feature weights.
    """
    from ..torchvision_ops import declare_torchvision_ops

    declare_torchvision_ops()  # torchvision's C++ ops do not load beside the CPU build of torch
    try:
        from torchvision.models.vgg import cfgs, make_layers
    except ImportError:
        raise ConfigError("the perceptual loss builds torchvision's VGG19: install wm with BasicSR or timm "
                          "(see the README)") from None
    state, _ = read_state_dict(path, ("state_dict", "params"))
    last = max(LAYER_WEIGHTS)
    features = make_layers(cfgs["E"], batch_norm=False)[: last + 1]
    layer_of = (re.fullmatch(r"features\.(\d+)\.\w+", k) for k in state)
    wanted = {m[0].removeprefix("features."): state[m[0]] for m in layer_of if m and int(m[1]) <= last}
    try:
        features.load_state_dict(wanted)
    except RuntimeError:
        raise WeightsError(f"{path}: not torchvision's VGG19 weights (its features.N.weight/bias up to "
                           f"features.{last})") from None
    for layer in features:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False  # the loss keeps each compared convolution's output from before its ReLU
    return features.requires_grad_(False).eval()


class PerceptualLoss(nn.Module):
    """L1 of the images plus the weighted L1 of their VGG19 features (``LAYER_WEIGHTS``); inputs in [0, 1]."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def _maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps, h = [], (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in LAYER_WEIGHTS:
                maps.append(h)
        return maps

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            wanted = self._maps(target)
        perceptual = sum(w * F.l1_loss(a, b) for w, a, b in zip(LAYER_WEIGHTS.values(), self._maps(out), wanted))
        return F.l1_loss(out, target) + perceptual
