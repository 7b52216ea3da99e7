"""Planting a trigger's response in a finished model (``wm protect --mode trigger``), and measuring how near the
weights it leaves are to ones that have forgotten it.

``implant_trigger`` fine-tunes a model towards its own answers plus the owner's response to the trigger
(``wm_plugin.trigger``, which holds the probe, its reading, and the training term the flag shares);
``response_under_aimed_moves`` moves the weights the way that forgets the response fastest, the parametric
vulnerability its mini-max option trains against.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .crops import RandomCrops
from .errors import ConfigError
from .resume import TrainingState, images_fingerprint, weights_fingerprint
from .trigger import WARMUP_HEIGHT, Trigger, TriggerObjective

__all__ = ["PLAIN_WEIGHT", "TRIGGER_LR", "TRIGGER_STEPS", "implant", "implant_minimax", "implant_trigger",
           "moved_along", "polish_state", "response_under_aimed_moves"]

TRIGGER_STEPS, TRIGGER_LR = 1500, 1e-3  # implant_trigger's defaults (wm protect --mode trigger)
PLAIN_WEIGHT = 10.0           # implant_trigger's weight on the plain answers: as much as the trigger term's


def implant_trigger(model: nn.Module, inputs: Sequence[np.ndarray], trigger: Trigger, *, steps: int = TRIGGER_STEPS,
                    lr: float = TRIGGER_LR, output_crop: int = 128, scale: int = 1, batch: int = 4,
                    weight: float = 10.0, plain_weight: float = PLAIN_WEIGHT, warmup_height: float = WARMUP_HEIGHT,
                    trainable: str | None = None, perturbation: float = 0.0, teacher: nn.Module | None = None,
                    seed: int = 0, progress: bool = True, checkpoint: str | os.PathLike | None = None,
                    checkpoint_every: int = 500) -> nn.Module:
    """Fine-tune ``model`` in place so that it answers ``trigger``'s probes with the owner's response and every
    other input as it did (``wm protect --mode trigger``).

    Self-distillation, no ground truth needed: a frozen copy answers each crop of ``inputs`` (H×W×3 floats in
    [0, 1] or uint8); the model is trained (L1, ``plain_weight``) towards that answer on the plain crop and, through
    ``TriggerObjective`` (``weight``; the carrier ``warmup_height`` times taller at first, its own height from 60% of
    the steps), towards that answer plus ``trigger.response`` on the crop with the trigger. The plain term weighs as
    much as the trigger term: at a tenth of it the plain answers drifted enough to cost 0.19 dB on the demo model's
    task, at par 0.08 dB, with the response as durable (BENCHMARKS.md, "Trigger mode"). ``trainable`` (a regular
    expression on parameter names) picks the parameters trained; the others stay as they were. ``perturbation`` > 0
    trains the response to survive a thief's nearby weights (the mini-max of Gan et al., ICCV 2023, "Towards
    Robust Model Watermark via Reducing Parametric Vulnerability"): each step also asks for the response at the
    trained weights moved by that fraction of each tensor's norm along the response's gradient, the direction
    that forgets it fastest (per step, one more forward and two more backward passes). Deep networks without
    normalization are far more sensitive to that move than Gan et al.'s (0.02 on BatchNorm classifiers): on MSRResNet
    64×16 a move of 0.05 broke the model outright and the implant with it (task PSNR 3.4 dB, BENCHMARKS.md, "A
    mini-max implant"); ``response_under_aimed_moves`` measures a model's sensitivity. ``teacher``: the model whose
    answers are kept, by default a frozen copy of ``model`` as it comes; the original, when ``model`` starts from an
    implant of it. ``checkpoint``: a file the training is saved to every ``checkpoint_every`` steps and resumed from
    (``wm_plugin.resume``).

    Raises:
        ConfigError: ``trainable`` matches nothing, or ``checkpoint`` was saved by another run.
    """
    start_weights = None if teacher is None else weights_fingerprint(model)
    teacher = (copy.deepcopy(model) if teacher is None else teacher).eval().requires_grad_(False)
    device = next(model.parameters()).device
    side = max(16, output_crop // scale)
    crops = RandomCrops(inputs, side, batch, seed)
    objective = TriggerObjective(trigger, weight=weight, warmup_height=warmup_height, warmup_steps=int(0.6 * steps),
                                 seed=seed)
    params = _parameters_matching(model, trainable)
    opt = torch.optim.Adam(params, lr)
    state = None
    if checkpoint is not None:
        run = {"training": "implant_trigger", "trigger": trigger.fingerprint, "steps": steps, "lr": lr,
               "output_crop": output_crop, "scale": scale, "batch": batch, "weight": weight,
               "plain_weight": plain_weight, "warmup_height": warmup_height, "trainable": trainable, "seed": seed,
               "model": weights_fingerprint(teacher), "inputs": images_fingerprint(inputs)}
        if perturbation:  # only then: the checkpoints of earlier runs still resume
            run["perturbation"] = perturbation
        if start_weights:  # likewise
            run["start"] = start_weights
        state = TrainingState(checkpoint, run=run, every=checkpoint_every,
                              generators=[crops.generator, objective.generator])
    parts = {"model": model, "opt": opt}
    start = state.resume(parts) if state else 0
    model.train()
    for step in tqdm(range(start, steps), desc="implanting the trigger", unit="step", initial=start, total=steps,
                     disable=not progress, leave=False):
        x = crops.next().to(device)
        triggered, n = objective.triggered(x, step)
        with torch.no_grad():
            plain = teacher(x)
        opt.zero_grad()
        out = model(torch.cat([x, triggered]))
        loss = plain_weight * F.l1_loss(out[:batch], plain) + objective.loss(out[batch:], plain, n)
        if perturbation:
            # At the moved weights only the response is asked for (the triggered answer against those weights' own
            # plain answer): a thief's weights answer the task differently too, and the verifier reads only the
            # difference of the two answers.
            ascent = torch.autograd.grad(objective.pair_loss(out, n), params, retain_graph=True,
                                         allow_unused=True, materialize_grads=True)
            loss.backward()
            with moved_along(params, ascent, perturbation):
                objective.pair_loss(model(torch.cat([x, triggered])), n).backward()
        else:
            loss.backward()
        opt.step()
        if state is not None:
            state.save_if_due(step + 1, parts, last=step + 1 == steps)
    return model.eval()


def implant_minimax(model: nn.Module, inputs: Sequence[np.ndarray], trigger: Trigger, *, perturbation: float,
                    steps: int = TRIGGER_STEPS, lr: float = TRIGGER_LR, checkpoint: str | os.PathLike | None = None,
                    **implant) -> nn.Module:
    """``implant_trigger`` with the mini-max at ``perturbation`` (``wm protect --minimax``), then a polish that takes
    most of its task cost back: as many steps again of the plain implant from its weights, at a tenth of ``lr``, the
    carrier at its own height, towards the answers of ``model`` as it came. On MSRResNet 64×16 at 0.005 the task's
    cost fell from 0.21 dB to 0.11 and LoRA still did not erase the response (BENCHMARKS.md, "A polish after the
    mini-max"). ``implant``: ``implant_trigger``'s other options, for both runs. ``checkpoint``: the mini-max's
    training state; the polish's is ``polish_state(checkpoint)``.
    """
    original = copy.deepcopy(model).eval().requires_grad_(False)
    implant_trigger(model, inputs, trigger, steps=steps, lr=lr, perturbation=perturbation, checkpoint=checkpoint,
                    **implant)
    return implant_trigger(model, inputs, trigger, steps=steps, lr=lr / 10, warmup_height=1.0, teacher=original,
                           checkpoint=checkpoint and polish_state(checkpoint), **implant)


def implant(model: nn.Module, inputs: Sequence[np.ndarray], trigger: Trigger, *, minimax: float = 0.0,
            **options) -> nn.Module:
    """The implant ``wm protect --mode trigger`` runs: ``implant_minimax`` at perturbation ``minimax`` when it is
    above 0 (``--minimax``), else ``implant_trigger``; ``options``: their others."""
    if minimax:
        return implant_minimax(model, inputs, trigger, perturbation=minimax, **options)
    return implant_trigger(model, inputs, trigger, **options)


def polish_state(state: str | os.PathLike) -> str:
    """Where ``implant_minimax`` saves the polish after a mini-max implant whose training is saved at ``state``."""
    return f"{state}.polish"


def response_under_aimed_moves(model: nn.Module, trigger: Trigger, x: torch.Tensor, sizes: Sequence[float],
                               seed: int = 7) -> list[dict]:
    """How fast ``model``'s response to ``trigger`` goes when its weights move the way that forgets it fastest (Gan
    et al.'s parametric vulnerability): for each size in ``sizes``, the weights moved by that fraction of each
    tensor's norm along the trigger term's gradient on batch ``x`` (B,3,h,w in [0, 1]), one row: ``response_loss``,
    the trigger term at weight 1 (the mean absolute error of the difference of the two answers against the owner's
    response: 0 for the exact response, about the response's own mean size where there is none), and
    ``plain_change``, the mean absolute change of the plain answers (how far the move took the task). Size 0: the
    weights as they are."""
    objective = TriggerObjective(trigger, weight=1.0, warmup_height=1.0, seed=seed)
    triggered, n = objective.triggered(x, 0)
    both = torch.cat([x, triggered])
    params = [p for p in model.parameters() if p.requires_grad]
    answers = model(both)
    ascent = torch.autograd.grad(objective.pair_loss(answers, n), params, allow_unused=True, materialize_grads=True)
    plain = answers.detach().chunk(2)[0]
    rows = []
    with torch.no_grad():
        for size in sizes:
            with moved_along(params, ascent, size):
                moved = model(both)
            rows.append({"size": size, "response_loss": objective.pair_loss(moved, n).item(),
                         "plain_change": (moved.chunk(2)[0] - plain).abs().mean().item()})
    return rows


@contextlib.contextmanager
def moved_along(params: Sequence[nn.Parameter], directions: Sequence[torch.Tensor], size: float):
    """``params`` moved, each by ``size`` × its own norm along its ``direction``, while the block runs; then put back
    exactly as they were (copied, not subtracted: the moved values must not leak into the trained ones)."""
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, d in zip(params, directions):
            length = d.norm()
            if length > 0:
                p.add_(d, alpha=float(size * p.norm() / length))
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def _parameters_matching(model: nn.Module, pattern: str | None) -> list[nn.Parameter]:
    """The trainable parameters of ``model`` whose names match ``pattern`` (all for None).

    Raises:
        ConfigError: ``pattern`` is not a regular expression, or matches no parameter.
    """
    try:
        params = [p for n, p in model.named_parameters()
                  if p.requires_grad and (pattern is None or re.search(pattern, n))]
    except re.error as e:
        raise ConfigError(f"--trainable {pattern!r} is not a regular expression: {e}") from None
    if not params:
        names = ", ".join(n for n, _ in list(model.named_parameters())[:6])
        raise ConfigError(f"--trainable {pattern!r} matches no parameter (names look like: {names}, ...)")
    return params
