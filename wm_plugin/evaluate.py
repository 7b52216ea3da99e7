"""The attacks of ``wm eval``: what a protected model's outputs still prove after edits, and what a stolen
model still proves after attacks on its weights.

Each edit of ``wm_plugin.attacks.edits`` (JPEG, rescaling, cropping, noise, blur) is applied to every
output, and the edited set is verified against the owner's key. Two figures per edit: the success rate
(the share of outputs detected on their own, at the false-positive target) and the verdict on the whole
set (the vote over all outputs, as ``wm verify`` gives it).

Each model attack of ``wm_plugin.attacks.models`` (pruning, weight noise, int8, fine-tuning, LoRA) makes an
attacked copy of the model; the copy answers the probe inputs and its answers are verified the same way,
beside how far the attack moved the model (PSNR between its answers before and after).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .attacks import apply_edit, list_edits
from .attacks.models import AttackSetting, apply_model_attack
from .codec import WatermarkCodec
from .keys import OwnerKey
from .metrics import picture_psnr
from .probe import as_picture, model_outputs, verify_outputs, verify_triggered
from .trigger import TRIGGER_AMPLITUDE
from .verify import DEFAULT_FPR, Verdict, verdict

__all__ = ["EditResult", "evaluate_edits", "edits_markdown", "ModelAttackResult", "iter_model_attacks",
           "evaluate_model_attacks", "model_attacks_markdown"]


@dataclasses.dataclass(frozen=True)
class EditResult:
    """One edit applied to every output, and what verification makes of the edited set."""

    edit: str
    verdict: Verdict

    @property
    def success_rate(self) -> float:
        """Share of the edited outputs detected on their own."""
        return self.verdict.n_images_detected / max(self.verdict.n_images, 1)

    def to_dict(self) -> dict:
        v = self.verdict
        return {"edit": self.edit, "success_rate": self.success_rate, "bit_accuracy": v.bit_accuracy,
                "set_detected": v.detected, "set_p_value": v.p_value, "n_images": v.n_images,
                "nc_success_rate": v.n_images_nc / max(v.n_images, 1)}


def evaluate_edits(names: Sequence[str], images: Sequence[np.ndarray], key: OwnerKey, *, codec: WatermarkCodec,
                   edits: Sequence[str] | None = None, fpr_target: float = DEFAULT_FPR) -> list[EditResult]:
    """Apply each edit (default: all of ``list_edits()``) to ``images`` (H×W×3 uint8) and verify the results.

    Raises:
        KeyError: an unknown edit name (the message lists the known ones).
    """
    results = []
    for edit in edits or list_edits():
        edited = [apply_edit(edit, img) for img in images]
        logits = codec.extract(edited)
        results.append(EditResult(edit, verdict(list(names), logits, key.carried_bits(), fpr_target=fpr_target)))
    return results


def edits_markdown(results: Sequence[EditResult], *, fpr_target: float = DEFAULT_FPR) -> str:
    """The results as a Markdown table."""
    rows = [f"| edit | success rate (single outputs detected at {fpr_target:g}) | bit accuracy | whole set |",
            "|---|---|---|---|"]
    for r in results:
        word = "detected" if r.verdict.detected else "not detected"
        rows.append(f"| {r.edit} | {r.success_rate:.3f} | {r.verdict.bit_accuracy:.4f} | "
                    f"{word} (p = {r.verdict.p_value:.2g}) |")
    return "\n".join(rows) + "\n"


@dataclasses.dataclass(frozen=True)
class ModelAttackResult:
    """One attack on the model's weights, and what verification makes of the attacked model's answers."""

    attack: str
    verdict: Verdict
    psnr_vs_model: float  # dB between the attacked and the unattacked model's answers (mean over probes)
    seconds: float  # the attack's own time

    def to_dict(self) -> dict:
        v = self.verdict
        return {"attack": self.attack, "detected": v.detected, "p_value": v.p_value, "bit_accuracy": v.bit_accuracy,
                "success_rate": v.n_images_detected / max(v.n_images, 1),
                "psnr_vs_model": self.psnr_vs_model if np.isfinite(self.psnr_vs_model) else None,  # None: unchanged
                "seconds": self.seconds, "n_images": v.n_images, "nc_success_rate": v.n_images_nc / max(v.n_images, 1),
                "matches": v.matches, "bits": v.bits, "method": v.method}


def iter_model_attacks(model: Any, run: Callable[[Any, Any], Any], attacks: Sequence[str],
                       inputs: Sequence[tuple[str, np.ndarray]], key: OwnerKey, *, codec: WatermarkCodec,
                       setting: AttackSetting, unattacked: Sequence[np.ndarray] | None = None,
                       trigger: bool = False, trigger_amplitude: float = TRIGGER_AMPLITUDE,
                       fpr_target: float = DEFAULT_FPR) -> Iterator[tuple[ModelAttackResult, Any]]:
    """``evaluate_model_attacks`` one attack at a time: each result with the attacked copy its answers came from,
    for a caller that reads that copy further or keeps it.

    Raises:
        KeyError: an unknown attack name.
    """
    device, names = str(codec.device), [n for n, _ in inputs]
    if unattacked is None:
        unattacked = model_outputs(lambda x: run(model, x), inputs, device=device, progress=False)
    before = [as_picture(o) for o in unattacked]
    for attack in attacks:
        start = time.perf_counter()
        attacked = apply_model_attack(attack, model, setting)
        seconds = time.perf_counter() - start
        outs = model_outputs(lambda x: run(attacked, x), inputs, device=device, progress=False)
        psnr = float(np.mean([picture_psnr(a, as_picture(o)) for a, o in zip(before, outs)]))
        if trigger:
            v = verify_triggered(lambda x: run(attacked, x), inputs, key, plain=outs, amplitude=trigger_amplitude,
                                 device=device, fpr_target=fpr_target, progress=False)[0]
        else:
            v = verify_outputs(names, outs, key, codec=codec, fpr_target=fpr_target)
        yield ModelAttackResult(attack, v, psnr, seconds), attacked


def evaluate_model_attacks(model: Any, run: Callable[[Any, Any], Any], attacks: Sequence[str],
                           inputs: Sequence[tuple[str, np.ndarray]], key: OwnerKey, *, codec: WatermarkCodec,
                           setting: AttackSetting, unattacked: Sequence[np.ndarray] | None = None,
                           trigger: bool = False, trigger_amplitude: float = TRIGGER_AMPLITUDE,
                           fpr_target: float = DEFAULT_FPR) -> list[ModelAttackResult]:
    """Attack ``model`` with each of ``attacks``, run each attacked copy on ``inputs`` (``run(model, batch)``, an
    adapter's ``run``) and verify its answers against ``key`` (with ``trigger``: its response to the key's
    trigger, ``wm_plugin.trigger``, of height ``trigger_amplitude``). ``unattacked``: ``model``'s own answers to
    ``inputs``, where the caller has them already.

    Raises:
        KeyError: an unknown attack name.
    """
    return [result for result, _ in iter_model_attacks(model, run, attacks, inputs, key, codec=codec, setting=setting,
                                                       unattacked=unattacked, trigger=trigger,
                                                       trigger_amplitude=trigger_amplitude, fpr_target=fpr_target)]


def model_attacks_markdown(results: Sequence[ModelAttackResult], *, fpr_target: float = DEFAULT_FPR) -> str:
    """The model-attack results as a Markdown table."""
    rows = [f"| attack | verdict on its answers | bit accuracy | answers detected alone at {fpr_target:g} | "
            "PSNR vs unattacked | attack time |", "|---|---|---|---|---|---|"]
    for r in results:
        d = r.to_dict()
        word = "detected" if r.verdict.detected else "not detected"
        rows.append(f"| {r.attack} | {word} (p = {r.verdict.p_value:.2g}) | {r.verdict.bit_accuracy:.4f} | "
                    f"{d['success_rate']:.3f} | {_db(r.psnr_vs_model)} | {r.seconds:.1f} s |")
    return "\n".join(rows) + "\n"


def _db(psnr: float) -> str:
    return f"{psnr:.2f} dB" if np.isfinite(psnr) else "identical"
