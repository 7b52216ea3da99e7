"""The image-edit attacks of ``wm eval``: what a protected model's outputs still prove after common edits.

Each edit of ``wm_plugin.attacks.edits`` (JPEG, rescaling, cropping, noise, blur) is applied to every
output, and the edited set is verified against the owner's key. Two figures per edit: the success rate
(the share of outputs detected on their own, at the false-positive target) and the verdict on the whole
set (the vote over all outputs, as ``wm verify`` gives it).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from .attacks import apply_edit, list_edits
from .codec import WatermarkCodec
from .keys import OwnerKey
from .verify import DEFAULT_FPR, Verdict, verdict

__all__ = ["EditResult", "evaluate_edits", "edits_markdown"]


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
                "set_detected": v.detected, "set_p_value": v.p_value, "n_images": v.n_images}


def evaluate_edits(names: Sequence[str], images: Sequence[np.ndarray], key: OwnerKey, *, codec: WatermarkCodec,
                   edits: Sequence[str] | None = None, fpr_target: float = DEFAULT_FPR) -> list[EditResult]:
    """Apply each edit (default: all of ``list_edits()``) to ``images`` (H×W×3 uint8) and verify the results.

    Raises:
        KeyError: an unknown edit name (the message lists the known ones).
    """
    results = []
    for edit in edits or list_edits():
        edited = [apply_edit(edit, img) for img in images]
        results.append(EditResult(edit, verdict(list(names), codec.extract(edited), key.carried_bits(), fpr_target=fpr_target)))
    return results


def edits_markdown(results: Sequence[EditResult], *, fpr_target: float = DEFAULT_FPR) -> str:
    """The results as a Markdown table."""
    rows = [f"| edit | success rate (single outputs detected at {fpr_target:g}) | bit accuracy | whole set |",
            "|---|---|---|---|"]
    for r in results:
        word = "detected" if r.verdict.detected else "not detected"
        rows.append(f"| {r.edit} | {r.success_rate:.3f} | {r.verdict.bit_accuracy:.4f} | {word} (p = {r.verdict.p_value:.2g}) |")
    return "\n".join(rows) + "\n"
