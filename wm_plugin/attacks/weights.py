"""Edits of a stolen model's weights that need no data: magnitude pruning, weight noise, int8 quantization.

Each takes a model (a ``torch.nn.Module``) and returns an edited copy; the model given is left as it was.
Only the weights of convolutions and linear layers are edited (biases and norms are left: pruning and
quantizing them is neither common nor what shrinks a model).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

__all__ = ["prune", "weight_noise", "quantize_int8"]

_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _LAYERS)]


def prune(model: nn.Module, amount: float) -> nn.Module:
    """A copy with the ``amount`` share of its conv/linear weights of smallest magnitude set to zero (global,
    unstructured: torch's ``global_unstructured`` L1 pruning, made permanent)."""
    model = copy.deepcopy(model)
    params = [(m, "weight") for m in _weighted_layers(model)]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=amount)
    for m, name in params:
        torch_prune.remove(m, name)
    return model


@torch.no_grad()
def weight_noise(model: nn.Module, relative: float, *, seed: int = 0) -> nn.Module:
    """A copy whose conv/linear weights gain Gaussian noise of ``relative`` × each tensor's own standard deviation."""
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    for m in _weighted_layers(model):
        w = m.weight
        w.add_(torch.randn(w.shape, generator=g).to(w) * (relative * w.float().std()))
    return model


@torch.no_grad()
def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy whose conv/linear weights went through symmetric per-output-channel int8 and back (what storing
    or serving the model with int8 weights does to them)."""
    model = copy.deepcopy(model)
    for m in _weighted_layers(model):
        w = m.weight
        axis = 1 if isinstance(m, nn.ConvTranspose2d) else 0  # the output channels
        flat = w.transpose(0, axis).reshape(w.shape[axis], -1)
        step = flat.abs().amax(dim=1).clamp_min(1e-12) / 127
        q = (flat / step[:, None]).round().clamp(-127, 127) * step[:, None]
        w.copy_(q.reshape(w.transpose(0, axis).shape).transpose(0, axis))
    return model
