"""The ``watermark:`` section a user adds to a framework's training config, read and checked.

The same section works in a BasicSR options YAML and in an MMagic config::

    watermark:
      key: owner.key        # from `wm keygen`; relative paths count from the working directory,
                            # like the config's other paths
      mode: absorb          # absorb (default), barrier or trigger
      psnr: 43.5            # strength of the mark in the targets, dB (optional)
      extractor_weight: 0.01  # weight of the extractor loss while absorbing (optional)
      trigger_weight: 0.02  # trigger mode: the trigger term's weight once planted (optional)
      trigger_height: 4     # trigger mode: the trigger's height in /255 (optional; verify with the same)
      task: denoise         # trigger mode: what the model serves, sr (default), denoise or derain; sets the
                            # trigger's default height as `wm protect --task` does (12 for denoise)
      weights: null         # a folder of embedder/extractor weights (optional; default: the shipped ones)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from .attacks.tasks import TASKS
from .codec import DEFAULT_PSNR
from .errors import ConfigError, KeyFileError
from .keys import OwnerKey, load_key
from .trigger import TRIGGER_HEIGHT, default_trigger_height

__all__ = ["MODES", "WatermarkFlag", "check_training_mode", "parse_flag"]

MODES = ("absorb", "barrier", "trigger")
_FIELDS = {"key", "mode", "psnr", "extractor_weight", "trigger_weight", "trigger_height", "task", "weights"}
# The trigger term starts at trigger.PLANT_WEIGHT and falls to this weight over the first 60% of a run. Held at
# 0.2 the response cost a BasicSR ×4 network 0.33 dB, at 0.05 0.21, at 0.02 0.13, read back in every case; a
# constant weight had to be 0.5 for the ×4 network to learn it at all (BENCHMARKS.md, "Plant, then hold").
TRIGGER_WEIGHT = 0.02


@dataclasses.dataclass(frozen=True)
class WatermarkFlag:
    """A checked ``watermark:`` section."""

    key: OwnerKey
    key_path: str
    mode: str = "absorb"
    psnr: float = DEFAULT_PSNR
    extractor_weight: float = 0.01
    trigger_weight: float = TRIGGER_WEIGHT
    trigger_height: float = TRIGGER_HEIGHT  # /255
    weights: str | None = None

    def summary(self) -> str:
        """What the training logs say of the flag: the mode, the key, and how the model will be verified."""
        if self.mode == "trigger":
            return (f"trigger, key {self.key.fingerprint}, trigger height {self.trigger_height:g}/255 (verify with "
                    f"--trigger --trigger-height {self.trigger_height:g})")
        return f"{self.mode}, key {self.key.fingerprint}, {self.psnr:g} dB"


def _number(section: Mapping[str, Any], name: str, default: float, where: str) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}.{name}: expected a non-negative number, got {value!r}")
    return float(value)


def parse_flag(section: Any, *, where: str = "watermark", base_dir: str | os.PathLike = ".") -> WatermarkFlag:
    """Check a ``watermark:`` section and load its key.

    Args:
        section: the section's value as the config file holds it.
        where: how the section is named in error messages (e.g. ``train.yml: watermark``).
        base_dir: the folder relative key and weights paths are taken from (the config file's).

    Raises:
        ConfigError: a field is missing, unknown or wrong; the message names it.
    """
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping with at least 'key', got {section!r}")
    unknown = sorted(set(section) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(_FIELDS))})")
    if not section.get("key"):
        raise ConfigError(f"{where}.key: missing; make a key with `wm keygen -o owner.key` and name it here")
    mode = section.get("mode", "absorb")
    if mode not in MODES:
        raise ConfigError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
    key_path = Path(base_dir, os.path.expanduser(str(section["key"])))
    try:
        key = load_key(key_path)
    except KeyFileError as e:
        raise ConfigError(f"{where}.key: {e}") from None
    if key.scheme == "spectral":
        for name in ("psnr", "weights"):
            if section.get(name) is not None:
                raise ConfigError(f"{where}.{name}: applies to the learned networks; {key_path} is a spectral key")
    for name in ("trigger_height", "task"):
        if name in section and mode != "trigger":
            raise ConfigError(f"{where}.{name}: applies to mode: trigger, not {mode}")
    task = section.get("task")
    if task is not None and task not in TASKS:
        raise ConfigError(f"{where}.task: {task!r} is not one of {', '.join(TASKS)}")
    trigger_height = _number(section, "trigger_height", default_trigger_height(task), where)
    if not 0 < trigger_height <= 64:
        raise ConfigError(f"{where}.trigger_height: expected a height in /255 above 0 and at most 64, got "
                          f"{trigger_height:g}")
    weights = section.get("weights")
    if weights is not None:
        weights = str(Path(base_dir, os.path.expanduser(str(weights))))
    return WatermarkFlag(key, str(key_path), mode, psnr=_number(section, "psnr", DEFAULT_PSNR, where),
                         extractor_weight=_number(section, "extractor_weight", 0.01, where),
                         trigger_weight=_number(section, "trigger_weight", TRIGGER_WEIGHT, where),
                         trigger_height=trigger_height, weights=weights)


def check_training_mode(flag: WatermarkFlag, where: str = "watermark") -> None:
    """Raise ``ConfigError`` for a mode the frameworks' training cannot use (barrier: a protect mode)."""
    if flag.mode == "barrier":
        raise ConfigError(f"{where}.mode: barrier is not a training mode; train with absorb or trigger, or train "
                          "without the flag and run `wm protect --mode barrier` on the result")
