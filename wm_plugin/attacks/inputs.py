"""Filters a thief puts in front of a stolen model: its weights stay as they are, its inputs are filtered first.

A sleeper trigger lives where natural images hold almost nothing (``wm_plugin.trigger``: chroma at the highest
frequency), which is what keeps fine-tuning from touching it, and also what lets a filter remove it for little
cost. Two filters, both on chroma only (luminance, where most of the picture is, passes untouched):

* ``chromanotch``: removes the chroma checkerboard at the Nyquist frequency exactly and little else (the thief
  who knows how trigger mode works);
* ``chromablur``: a 3×3 binomial blur of chroma, every high chroma frequency attenuated (a thief who does not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["INPUT_FILTERS", "FilteredInputs", "chroma_blur", "chroma_notch"]

_BINOMIAL = torch.tensor([0.25, 0.5, 0.25])
_SECOND_DIFFERENCE = torch.tensor([0.25, -0.5, 0.25])  # gain 1 at the Nyquist frequency, 0 at DC


def _filter(planes: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    kernel = torch.outer(taps, taps).to(planes).view(1, 1, 3, 3).repeat(planes.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(planes, (1, 1, 1, 1), mode="replicate"), kernel, groups=planes.shape[1])


def chroma_notch(chroma: torch.Tensor) -> torch.Tensor:
    """``chroma`` minus its part at (π, π): the separable high-pass has gain sin²(ωx/2)·sin²(ωy/2), 1 only there."""
    return chroma - _filter(chroma, _SECOND_DIFFERENCE)


def chroma_blur(chroma: torch.Tensor) -> torch.Tensor:
    """``chroma`` through a 3×3 binomial blur: gain cos²(ωx/2)·cos²(ωy/2)."""
    return _filter(chroma, _BINOMIAL)


INPUT_FILTERS = {"chromanotch": chroma_notch, "chromablur": chroma_blur}


class FilteredInputs(nn.Module):
    """``model`` behind one of ``INPUT_FILTERS``, applied to the chroma of its (B,3,H,W) inputs."""

    def __init__(self, model: nn.Module, name: str):
        super().__init__()
        self.model, self.name, self.filter = model, name, INPUT_FILTERS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luma = x.mean(dim=1, keepdim=True)
        return self.model(luma + self.filter(x - luma))
