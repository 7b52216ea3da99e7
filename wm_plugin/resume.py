"""Long training that survives being stopped: a trigger's implant, a surrogate's or a fine-tuned copy's training,
saved every so many steps and picked up again by the next run of the same training.

The state is saved whole: networks, optimisers, learning-rate schedule, the step reached, and every random stream
the batches are drawn from, so a resumed run ends with the weights an unbroken run would have (bit for bit on the
same machine). The file also holds what names its run (its settings, and fingerprints of the weights it started
from and of the images it trains on); a file of another run is refused rather than continued. A finished run stays
saved: running the same training again skips straight to its result.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import ConfigError

__all__ = ["TrainingState", "images_fingerprint", "weights_fingerprint"]


def weights_fingerprint(model: nn.Module) -> str:
    """A short hash of ``model``'s weights and buffers (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def images_fingerprint(images: Sequence[np.ndarray]) -> str:
    """A short hash of the images a run trains on (their order, shapes, types and pixels): another folder of
    images of the same sizes names another run."""
    digest = hashlib.sha256()
    for image in images:
        pixels = np.ascontiguousarray(image)
        digest.update(f"{pixels.shape}{pixels.dtype}".encode())
        digest.update(pixels)  # the buffer itself: no copy of a large image
    return digest.hexdigest()[:16]


class TrainingState:
    """The saved state of one training run at ``path``: written every ``every`` steps and at the end, read back by
    ``resume``. ``run`` names the run (plain values); ``generators`` are the random streams its batches come from."""

    def __init__(self, path: str | os.PathLike, *, run: Mapping[str, Any], every: int = 500,
                 generators: Sequence[torch.Generator] = ()):
        if every < 1:
            raise ValueError(f"checkpoint interval must be at least 1 step, not {every}")
        self.path, self.run, self.every, self.generators = Path(path), dict(run), every, list(generators)

    def resume(self, parts: Mapping[str, Any]) -> int:
        """Load the saved state into ``parts`` (name → anything with ``load_state_dict``: networks, optimisers,
        schedules) and the generators; the step to go on from (0 when nothing is saved yet).

        Raises:
            ConfigError: the file belongs to another run, or does not hold this run's parts.
        """
        if not self.path.exists():
            return 0
        doc = load_checkpoint(self.path)
        if not isinstance(doc, dict) or doc.get("run") != self.run:
            saved = doc.get("run") if isinstance(doc, dict) else None
            changed = sorted(k for k in {**self.run, **(saved or {})} if (saved or {}).get(k) != self.run.get(k))
            raise ConfigError(f"{self.path} was saved by another run (it differs in {', '.join(changed) or 'format'}); "
                              "remove it or give another checkpoint folder")
        missing = [name for name in parts if name not in doc["parts"]]
        if missing or len(doc["generators"]) != len(self.generators):
            raise ConfigError(f"{self.path} does not hold this run's state ({', '.join(missing) or 'generators'})")
        for name, part in parts.items():
            part.load_state_dict(doc["parts"][name])
        for generator, state in zip(self.generators, doc["generators"]):
            generator.set_state(state)
        torch.set_rng_state(doc["torch_rng"])
        return int(doc["step"])

    def save_if_due(self, step: int, parts: Mapping[str, Any], *, last: bool = False) -> None:
        """Save the state after ``step`` steps if ``step`` is a multiple of ``every`` or ``last`` is set."""
        if last or step % self.every == 0:
            save_checkpoint({"run": self.run, "step": step, "parts": {n: p.state_dict() for n, p in parts.items()},
                             "generators": [g.get_state() for g in self.generators],
                             "torch_rng": torch.get_rng_state()}, self.path)
