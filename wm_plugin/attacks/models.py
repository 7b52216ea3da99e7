"""The attacks on a protected model, by name: on its weights ``prune30``, ``weightnoise1%``, ``int8``,
``finetune1k``, ``lora5k``; on its inputs ``chromanotch``, ``chromablur`` (a filter in front of it); on its
answers ``surrogate-unet-l1-2k`` (arch, loss, steps: a model of the thief's own trained on the protected model's
answers). Step counts take ``k`` for thousands.

``apply_model_attack(name, model, setting)`` returns the attacked copy (or the surrogate); ``setting`` holds
what the training attacks need (the thief's clean images, the task, the learning rates, and where their training
is saved to be resumed).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from torch import nn

from .finetune import finetune
from .inputs import INPUT_FILTERS, FilteredInputs
from .surrogate import SURROGATE_ARCHS, SURROGATE_LOSSES, train_surrogate
from .tasks import default_task, procedural_clean
from .weights import prune, quantize_int8, weight_noise

__all__ = ["AttackSetting", "apply_model_attack", "check_model_attack", "surrogate_loss"]

_PATTERNS = {
    "prune": re.compile(r"prune(\d+(?:\.\d+)?)%?"),
    "weightnoise": re.compile(r"weightnoise(\d+(?:\.\d+)?)%"),
    "finetune": re.compile(r"(finetune|lora)(\d+)(k?)"),
    "surrogate": re.compile(rf"surrogate-({'|'.join(SURROGATE_ARCHS)})-({'|'.join(SURROGATE_LOSSES)})-(\d+)(k?)"),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttackSetting:
    """What the thief trains with: clean images (H×W×3 floats in [0, 1] or uint8), the model's task and scale, the
    learning rates (fine-tuning, surrogate from scratch), the LoRA rank, crop and batch sizes, the perceptual
    surrogate loss (``wm_plugin.attacks.perceptual.PerceptualLoss``, on the user's VGG19 weights), and the folder
    where the training attacks save their state every ``checkpoint_every`` steps, as ``NAME.pt``, and resume it
    (``wm_plugin.resume``; None: not saved)."""

    clean: Sequence[np.ndarray] = ()
    task: str = "sr"
    scale: int = 1
    lr: float = 1e-4
    surrogate_lr: float = 5e-4
    lora_rank: int = 4
    crop: int = 96
    batch: int = 8
    seed: int = 0
    perceptual_loss: nn.Module | None = None
    progress: bool = True
    checkpoints: str | None = None
    checkpoint_every: int = 500

    def checkpoint(self, attack: str) -> Path | None:
        """Where the training of ``attack`` is saved (None: nowhere)."""
        return None if self.checkpoints is None else Path(self.checkpoints) / f"{attack}.pt"

    @classmethod
    def for_model(cls, scale: int, *, task: str | None = None, clean: Sequence[np.ndarray] | None = None,
                  **fields) -> "AttackSetting":
        """The setting for a ×``scale`` model: its likeliest task unless given, 96-px crops rounded down to a
        multiple of the scale, procedural clean images unless given (``procedural_clean``)."""
        return cls(clean=procedural_clean() if clean is None else clean, task=task or default_task(scale),
                   scale=scale, crop=96 // scale * scale, **fields)


def check_model_attack(name: str) -> None:
    """Raise ``KeyError`` (listing the forms) if ``name`` is not an attack ``apply_model_attack`` knows."""
    if name not in ("none", "int8", *INPUT_FILTERS) and not any(p.fullmatch(name) for p in _PATTERNS.values()):
        raise KeyError(f"unknown model attack {name!r}; known forms: none, int8, prune30, weightnoise1%, "
                       f"{', '.join(INPUT_FILTERS)}, "
                       "finetune1k, lora1k (any step count: finetune500, lora20k), surrogate-ARCH-LOSS-STEPS "
                       f"(ARCH: {', '.join(SURROGATE_ARCHS)}; LOSS: {', '.join(SURROGATE_LOSSES)}; "
                       "e.g. surrogate-unet-l1-2k)")


def surrogate_loss(name: str) -> str | None:
    """The loss a surrogate attack trains with (``surrogate-unet-l1-2k``: ``l1``); None for the other attacks."""
    m = _PATTERNS["surrogate"].fullmatch(name)
    return m[2] if m else None


def apply_model_attack(name: str, model: nn.Module, setting: AttackSetting) -> nn.Module:
    """The attacked copy of ``model`` (``model`` itself for ``none``)."""
    check_model_attack(name)
    if name == "none":
        return model
    if name == "int8":
        return quantize_int8(model)
    if name in INPUT_FILTERS:
        return FilteredInputs(model, name)
    if m := _PATTERNS["prune"].fullmatch(name):
        return prune(model, float(m[1]) / 100)
    if m := _PATTERNS["weightnoise"].fullmatch(name):
        return weight_noise(model, float(m[1]) / 100, seed=setting.seed)
    if m := _PATTERNS["surrogate"].fullmatch(name):
        return train_surrogate(model, setting.clean, arch=m[1], loss=m[2], task=setting.task, scale=setting.scale,
                               steps=int(m[3]) * (1000 if m[4] else 1), lr=setting.surrogate_lr, crop=setting.crop,
                               batch=setting.batch, seed=setting.seed, perceptual_loss=setting.perceptual_loss,
                               progress=setting.progress, checkpoint=setting.checkpoint(name),
                               checkpoint_every=setting.checkpoint_every)
    m = _PATTERNS["finetune"].fullmatch(name)
    steps = int(m[2]) * (1000 if m[3] else 1)
    return finetune(model, setting.clean, task=setting.task, scale=setting.scale, steps=steps, lr=setting.lr,
                    lora_rank=setting.lora_rank if m[1] == "lora" else None, crop=setting.crop,
                    batch=setting.batch, seed=setting.seed, progress=setting.progress,
                    checkpoint=setting.checkpoint(name), checkpoint_every=setting.checkpoint_every)
