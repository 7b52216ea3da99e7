"""``PixelSpace``: how an MMagic generator's tensors map to RGB pictures in [0, 1], read from its config.

MMagic's ``DataPreprocessor`` hands a generator ``(image - mean) / std`` in 0–255 units, in the channel
order the data pipeline loaded (``LoadImageFromFile`` defaults to BGR) unless ``output_channel_order``
converts it; its outputs live in the same space. The watermark lives in RGB pictures in [0, 1].
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch

__all__ = ["PixelSpace"]

_LOADERS = ("LoadImageFromFile", "LoadPairedImageFromFile")


def _triple(value: float | Sequence[float] | None, default: float) -> tuple[float, float, float]:
    if value is None:
        return (default,) * 3
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return tuple(values * 3) if len(values) == 1 else tuple(values)


def _pipelines(cfg: Any) -> list[list]:
    found = [cfg.get("test_pipeline"), cfg.get("val_pipeline")]
    for name in ("test_dataloader", "val_dataloader", "train_dataloader"):
        loaders = cfg.get(name) or []
        for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
            found.append(((loader or {}).get("dataset") or {}).get("pipeline"))
    return [p for p in found if isinstance(p, (list, tuple))]


@dataclasses.dataclass(frozen=True)
class PixelSpace:
    """``(pixel × 255 − mean) / std``, channels BGR when ``bgr``."""

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    bgr: bool = False

    @classmethod
    def from_config(cls, cfg: Any) -> "PixelSpace":
        """The space of the generator of an MMEngine ``Config`` (its data preprocessor and pipelines)."""
        pre = dict(cfg.model.get("data_preprocessor") or {})
        if "mean" in pre and pre["mean"] is None:  # normalisation off: raw 0-255 values
            mean, std = (0.0,) * 3, (1.0,) * 3
        else:
            mean, std = _triple(pre.get("mean"), 127.5), _triple(pre.get("std"), 127.5)
        order = pre.get("output_channel_order")
        if order is None:
            loads = [t for p in _pipelines(cfg) for t in p if isinstance(t, dict) and t.get("type") in _LOADERS]
            order = loads[0].get("channel_order", "bgr") if loads else "bgr"
        return cls(mean, std, str(order).lower() == "bgr")

    def to_dict(self) -> dict:
        """The fields as plain lists (for a config file)."""
        return {"mean": list(self.mean), "std": list(self.std), "bgr": self.bgr}

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        return mean, std

    def to_pixels(self, t: torch.Tensor) -> torch.Tensor:
        """Generator tensors (B,3,H,W) → RGB in [0, 1] (not clamped)."""
        mean, std = self._stats(t)
        x = (t * std + mean) / 255
        return x.flip(1) if self.bgr else x

    def from_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B,3,H,W) → generator tensors."""
        mean, std = self._stats(x)
        x = x.flip(1) if self.bgr else x
        return (x * 255 - mean) / std
