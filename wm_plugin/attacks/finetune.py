"""The fine-tuning attack: a thief with the weights trains them further on clean pairs of the model's task.

Full fine-tuning trains every weight; LoRA-style fine-tuning freezes them and trains low-rank adapters beside
each convolution and linear layer (``W x + B A x``, B zero at the start, so the model starts as it was).
Clean pairs come from clean images through ``wm_plugin.attacks.tasks.degrade``: the thief's targets carry
no mark, which is what makes fine-tuning the hardest attack on a mark that lives in the weights.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..crops import RandomCrops
from ..resume import TrainingState, images_fingerprint, weights_fingerprint
from .tasks import degrade

__all__ = ["LoRAConv2d", "LoRALinear", "add_lora", "finetune", "merge_lora"]


class LoRAConv2d(nn.Module):
    """A frozen convolution plus a trainable rank-``rank`` path: a conv to ``rank`` channels, then 1×1 back."""

    def __init__(self, base: nn.Conv2d, rank: int):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.down = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, base.dilation,
                              bias=False, padding_mode=base.padding_mode)
        self.up = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=5**0.5)
        nn.init.zeros_(self.up.weight)
        self.to(base.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.up(self.down(x))

    def merged(self) -> nn.Conv2d:
        """The base convolution with the adapter added into its weight: one conv that computes the same."""
        self.base.weight.data += torch.einsum("or,rikl->oikl", self.up.weight[:, :, 0, 0], self.down.weight)
        return self.base


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable rank-``rank`` product."""

    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.down = nn.Linear(base.in_features, rank, bias=False)
        self.up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=5**0.5)
        nn.init.zeros_(self.up.weight)
        self.to(base.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.up(self.down(x))

    def merged(self) -> nn.Linear:
        """The base layer with the adapter added into its weight."""
        self.base.weight.data += self.up.weight @ self.down.weight
        return self.base


def add_lora(model: nn.Module, rank: int, layers: str | None = None) -> nn.Module:
    """Freeze ``model`` and put a LoRA adapter beside each of its (ungrouped) convolutions and linear layers, in
    place; returns it. Grouped convolutions are left frozen. ``layers``: a regular expression; only the layers
    whose names in ``model.named_modules()`` it matches in full get an adapter."""
    model.requires_grad_(False)
    wanted = re.compile(layers) if layers is not None else None
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if wanted and not wanted.fullmatch(f"{prefix}.{name}" if prefix else name):
                continue
            if isinstance(child, nn.Conv2d) and child.groups == 1:
                setattr(parent, name, LoRAConv2d(child, rank))
            elif isinstance(child, nn.Linear):
                setattr(parent, name, LoRALinear(child, rank))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter of ``add_lora`` into the layer beside it, in place; returns ``model``, now of its
    original architecture (what a thief ships: the framework's checkpoint loads it)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (LoRAConv2d, LoRALinear)):
                setattr(parent, name, child.merged())
    return model


def finetune(model: nn.Module, clean: Sequence[np.ndarray], *, task: str, scale: int = 1, steps: int = 1000,
             lr: float = 1e-4, lora_rank: int | None = None, lora_layers: str | None = None, crop: int = 96,
             batch: int = 8, seed: int = 0, progress: bool = True, checkpoint: str | os.PathLike | None = None,
             checkpoint_every: int = 500) -> nn.Module:
    """A copy of ``model`` fine-tuned with L1 on (degraded, clean) random crops of ``clean`` (H×W×3 floats in
    [0, 1] or uint8, at least ``crop`` px a side; ``crop`` is on the target side and a multiple of ``scale``).

    ``lora_rank`` trains low-rank adapters instead of the weights (on the layers ``lora_layers`` matches, see
    ``add_lora``; all by default). The model given is left as it was.
    ``checkpoint``: a file the training is saved to every ``checkpoint_every`` steps and resumed from
    (``wm_plugin.resume``).

    Raises:
        ValueError: an image smaller than ``crop``.
        ConfigError: a ``checkpoint`` saved by another run.
    """
    victim = weights_fingerprint(model) if checkpoint is not None else None
    model = copy.deepcopy(model).requires_grad_(True)  # a thief trains what the owner froze (a barrier's embedder) too
    if lora_rank:
        torch.manual_seed(seed)  # the adapters' initial weights
        add_lora(model, lora_rank, lora_layers)
    device = next(model.parameters()).device
    if any(min(x.shape[:2]) < crop for x in clean):
        raise ValueError(f"fine-tuning images must be at least {crop} px a side")
    crops = RandomCrops(clean, crop, batch, seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr)
    state = None
    if checkpoint is not None:
        run = {"attack": "finetune", "task": task, "scale": scale, "steps": steps, "lr": lr, "lora_rank": lora_rank,
               "crop": crop, "batch": batch, "seed": seed, "victim": victim, "clean": images_fingerprint(clean)}
        if lora_layers:  # only then: the checkpoints of runs with adapters everywhere still resume
            run["lora_layers"] = lora_layers
        state = TrainingState(checkpoint, run=run, every=checkpoint_every, generators=[crops.generator])
    parts = {"model": model, "opt": opt}
    start = state.resume(parts) if state else 0
    model.train()
    for step in tqdm(range(start, steps), desc="fine-tuning", unit="step", initial=start, total=steps,
                     disable=not progress, leave=False):
        target = crops.next()
        inputs = degrade(target, task, scale=scale, generator=crops.generator)
        loss = F.l1_loss(model(inputs.to(device)), target.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if state is not None:
            state.save_if_due(step + 1, parts, last=step + 1 == steps)
    return model.eval()
