"""Protect a framework's checkpoint with a barrier, and measure what the protection does to its outputs.

Framework-free: the framework is reached only through an adapter (``wm_plugin.adapters``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from .absorb import ABSORB_LR, ABSORB_STEPS, absorb_into
from .attacks.tasks import check_task, degrade_image
from .barrier import WatermarkBarrier
from .codec import DEFAULT_PSNR, WatermarkCodec
from .flag import WatermarkFlag
from .implant import TRIGGER_LR, TRIGGER_STEPS, implant
from .io import read_images_compact
from .keys import OwnerKey
from .metrics import picture_psnr
from .probe import as_picture, model_outputs, verify_outputs, verify_triggered
from .train.procedural import procedural_image
from .trigger import TRIGGER_AMPLITUDE, Trigger
from .verify import DEFAULT_FPR, Verdict

__all__ = ["protect_barrier", "protect_absorb", "protect_trigger", "absorb_inputs",
           "ProtectionCheck", "check_protection"]


def protect_barrier(adapter: Any, checkpoint: str, key: OwnerKey, output: str, *, config: str | None = None,
                    weights: str | None = None, psnr: float = DEFAULT_PSNR,
                    device: str = "cpu") -> tuple[Any, Any, list[str]]:
    """Load ``checkpoint``, put the embedder after it, and save that in the framework's format at ``output``.

    Returns (original model, protected model as loaded back from ``output``, paths written).
    """
    model = adapter.load_model(checkpoint, config=config, device=device)
    barrier = WatermarkBarrier.for_key(model, key, weights=weights, psnr=psnr).to(device)
    written = adapter.save_barrier(barrier, output, config=config, like=checkpoint)
    return model, adapter.load_model(output, config=config, device=device), written


def absorb_inputs(scale: int, data: Sequence[str] | None = None, *, task: str | None = None, n: int = 24,
                  seed: int = 0) -> list[np.ndarray]:
    """What ``protect_absorb`` and ``protect_trigger`` fine-tune on: the model inputs in ``data`` as they are (8-bit
    ones as uint8), else ``n`` procedural images (dead leaves, fractal noise) of 256/``scale`` px, so that the bundled
    photos stay held out for the check. ``task`` "denoise" or "derain" degrades the procedural images as ``wm eval``'s
    thief does (σ = 25 noise, synthetic streaks; seeded), so that a ×1 model is fine-tuned on the inputs it serves,
    not clean ones.

    Raises:
        ValueError: ``task`` is unknown or does not fit a ×``scale`` model.
    """
    if task is not None:
        check_task(task, scale)
    if data:
        return read_images_compact(data)
    rng = np.random.default_rng(seed)
    images = [procedural_image(rng, max(32, 256 // scale)).astype(np.float32) for _ in range(n)]
    if task in (None, "sr"):  # a ×s model's procedural inputs are drawn at the input size already
        return images
    generator = torch.Generator().manual_seed(seed)
    return [degrade_image(x, task, generator=generator) for x in images]


def protect_absorb(adapter: Any, checkpoint: str, flag: WatermarkFlag, output: str, *, inputs: Sequence[np.ndarray],
                   scale: int = 1, config: str | None = None, steps: int = ABSORB_STEPS, lr: float = ABSORB_LR,
                   device: str = "cpu", progress: bool = True) -> tuple[Any, Any, list[str]]:
    """Load ``checkpoint``, fine-tune it to emit the mark itself (``absorb_into``), save it as a plain checkpoint
    of the original arch at ``output``.

    Returns (original model, protected model as loaded back from ``output``, paths written).
    """
    original = adapter.load_model(checkpoint, config=config, device=device)
    model = adapter.load_model(checkpoint, config=config, device=device)
    absorb_into(model, inputs, flag, steps=steps, lr=lr, scale=scale, progress=progress)
    adapter.save_checkpoint(model, output, like=checkpoint, **({"config": config} if config is not None else {}))
    return original.eval(), adapter.load_model(output, config=config, device=device), [output]


def protect_trigger(adapter: Any, checkpoint: str, key: OwnerKey, output: str, *, inputs: Sequence[np.ndarray],
                    scale: int = 1, config: str | None = None, steps: int = TRIGGER_STEPS, lr: float = TRIGGER_LR,
                    trainable: str | None = None, perturbation: float = 0.0, amplitude: float = TRIGGER_AMPLITUDE,
                    device: str = "cpu", progress: bool = True, state: str | None = None) -> tuple[Any, Any, list[str]]:
    """Load ``checkpoint``, fine-tune it to answer ``key``'s trigger with the owner's response and other inputs as
    before (``implant_trigger``), save it as a plain checkpoint of the original arch at ``output``. ``amplitude``
    is the trigger's height (a denoiser's noisy inputs hide a taller one than the default 4/255); ``trainable`` is
    ``implant_trigger``'s. ``perturbation`` > 0 (``wm protect --minimax``): ``implant_minimax``, the mini-max and
    the polish after it. ``state``: a file the training is saved to every 500 steps and resumed from, when a stopped
    run is started again (the polish: ``polish_state(state)``).

    Returns (original model, protected model as loaded back from ``output``, paths written).
    """
    original = adapter.load_model(checkpoint, config=config, device=device)
    model = adapter.load_model(checkpoint, config=config, device=device)
    trigger = Trigger.for_key(key, amplitude)
    training = dict(steps=steps, lr=lr, scale=scale, trainable=trainable, progress=progress, checkpoint=state)
    implant(model, inputs, trigger, minimax=perturbation, **training)
    adapter.save_checkpoint(model, output, like=checkpoint, **({"config": config} if config is not None else {}))
    return original.eval(), adapter.load_model(output, config=config, device=device), [output]


@dataclasses.dataclass(frozen=True)
class ProtectionCheck:
    """A protected model next to its original, on the same probe inputs (in trigger mode, the verdicts read the
    response to the trigger, and ``untriggered`` is the verdict on the protected model's plain answers)."""

    psnr_vs_original: list[float]  # per input, dB, between the two models' outputs on the plain probes
    protected: Verdict
    original: Verdict
    untriggered: Verdict | None = None

    @property
    def ok(self) -> bool:
        return self.protected.detected and not self.original.detected

    def to_dict(self) -> dict:
        doc = {"ok": self.ok, "psnr_vs_original": float(np.mean(self.psnr_vs_original)),
               "protected": self.protected.to_dict(), "original": self.original.to_dict()}
        return doc | ({"protected_untriggered": self.untriggered.to_dict()} if self.untriggered else {})


def check_protection(adapter: Any, original: Any, protected: Any, inputs: Sequence[tuple[str, np.ndarray]],
                     key: OwnerKey, *, codec: WatermarkCodec, trigger: bool = False,
                     trigger_amplitude: float = TRIGGER_AMPLITUDE, fpr_target: float = DEFAULT_FPR) -> ProtectionCheck:
    """Run both models on ``inputs``: how far apart their outputs are, and the verdict on each model's outputs
    (with ``trigger``: on each model's response to ``key``'s trigger, of height ``trigger_amplitude``)."""
    names, device = [n for n, _ in inputs], str(codec.device)

    def run(net: Any, probes: Sequence[tuple[str, np.ndarray]]) -> list[np.ndarray]:
        return model_outputs(lambda x: adapter.run(net, x), probes, device=device, progress=False)

    plain, marked = run(original, inputs), run(protected, inputs)
    psnr = [picture_psnr(as_picture(a), as_picture(b)) for a, b in zip(plain, marked)]
    if not trigger:
        return ProtectionCheck(psnr, verify_outputs(names, marked, key, codec=codec, fpr_target=fpr_target),
                               verify_outputs(names, plain, key, codec=codec, fpr_target=fpr_target))

    def response(net: Any, answers: list[np.ndarray]) -> Verdict:
        return verify_triggered(lambda x: adapter.run(net, x), inputs, key, plain=answers,
                                amplitude=trigger_amplitude, device=device,
                                fpr_target=fpr_target, progress=False)[0]

    return ProtectionCheck(psnr, response(protected, marked), response(original, plain),
                           verify_outputs(names, marked, key, codec=codec, fpr_target=fpr_target))
