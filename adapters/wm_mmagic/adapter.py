"""``MMagicAdapter``: the adapter contract (``wm_plugin.adapters``) for MMagic configs and checkpoints."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wm_plugin.barrier import WatermarkBarrier
from wm_plugin.checkpoint import read_state_dict, save_checkpoint
from wm_plugin.errors import ConfigError, WeightsError
from wm_plugin.fileio import write_text_atomic
from wm_plugin.flag import check_training_mode, parse_flag

from .generators import MMagicGenerator
from .space import PixelSpace

__all__ = ["MMagicAdapter", "read_config", "generator_prefixes"]

_BARRIER = "WatermarkBarrierNet"
# What MMEngine pickles beside the weights (message_hub: HistoryBuffer, numpy log arrays); read as inert.
_BOOKKEEPING = ("mmengine.", "numpy.", "builtins.getattr")


def read_config(config: str | os.PathLike | None) -> Any:
    """An MMagic config (``_base_`` inheritance resolved) as an MMEngine ``Config``.

    Raises:
        ConfigError: no file, a file MMEngine cannot read, or no ``model.generator``.
    """
    from mmengine.config import Config

    if config is None:
        raise ConfigError("MMagic needs the model's config (--config) that defines model.generator")
    if not Path(config).is_file():
        raise ConfigError(f"config not found: {config}")
    try:
        cfg = Config.fromfile(str(config))
    except Exception as e:  # MMEngine raises many types for a broken file or a missing _base_
        raise ConfigError(f"{config}: not a readable MMagic config ({type(e).__name__}: {e})") from None
    if not isinstance(cfg.get("model"), dict) or not isinstance(cfg.model.get("generator"), dict):
        raise ConfigError(f"{config}: model.generator: missing (an MMagic config names its network there, with a type)")
    return cfg


def generator_prefixes(cfg: Any) -> list[str]:
    """Where the generator's weights sit in the model's state dict, the one inference uses first.

    Restoration models (``BaseEditModel`` and kin): ``generator_ema.`` (when trained with EMA), ``generator.``;
    translation models (Pix2Pix, CycleGAN): ``generators.<target domain>.``.
    """
    domain = cfg.model.get("default_domain")
    if domain is not None:
        return [f"generators.{domain}."]
    return ["generator_ema.", "generator."]


def _read_state(checkpoint: str) -> tuple[dict[str, torch.Tensor], dict]:
    return read_state_dict(checkpoint, ("state_dict",), inert=_BOOKKEEPING)


def _generator_state(state: dict, cfg: Any, checkpoint: str) -> tuple[str, dict[str, torch.Tensor]]:
    for prefix in generator_prefixes(cfg):
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            return prefix, sub
    raise WeightsError(f"{checkpoint}: no generator weights (looked for {', '.join(generator_prefixes(cfg))}*)")


def _build(generator: dict, config: str) -> nn.Module:
    from mmagic.registry import MODELS
    from mmengine.registry import DefaultScope

    try:
        with DefaultScope.overwrite_default_scope("mmagic"):  # nested modules (norm layers) resolve in MMagic's scope
            return MODELS.build(copy.deepcopy(generator))
    except KeyError as e:  # MMEngine's message: "<name> is not in the mmagic::model registry. Please check ..."
        missing = str(e).strip("'\"").split(". ")[0]
        raise ConfigError(f"{config}: model.generator: {missing} (an unknown MMagic module)") from None
    except (TypeError, AssertionError, ValueError) as e:  # a wrong or missing argument of the generator
        raise ConfigError(f"{config}: model.generator: {e}") from None


def _size_multiple(cfg: Any) -> int:
    """What the generator's input sides must divide by: a U-Net's 2^num_down, a ResNet generator's 4, padding."""
    gen = cfg.model.generator
    gen = gen.get("inner", gen) if gen.get("type") == _BARRIER else gen
    multiple = int((cfg.model.get("data_preprocessor") or {}).get("pad_size_divisor", 1) or 1)
    if "num_down" in gen:
        multiple = max(multiple, 2 ** int(gen["num_down"]))
    if gen.get("type") == "ResnetGenerator":
        multiple = max(multiple, 4)
    return multiple


def _barrier_generator(inner: dict, spec: dict, space: PixelSpace) -> dict:
    return {"type": _BARRIER, "inner": inner, **spec, "space": space.to_dict()}


def _with_generator(state: dict, cfg: Any, generator: nn.Module) -> dict:
    """``state`` with ``generator``'s weights in place of the generator's, at every prefix the state used (its EMA
    copy too; ``generator.`` if it had none); the rest of the model (discriminators, ...) as it was."""
    prefixes = generator_prefixes(cfg)
    used = [p for p in prefixes if any(k.startswith(p) for k in state)] or prefixes[-1:]
    out = {k: v for k, v in state.items() if not k.startswith(tuple(prefixes))}
    weights = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    for prefix in used:
        out.update({prefix + k: v for k, v in weights.items()})
    return out


def _meta(doc: dict) -> dict:
    """The plain parts of a checkpoint's ``meta`` (MMEngine also stores objects that need pickled code)."""
    plain = (str, int, float, bool, type(None))
    return {k: v for k, v in (doc.get("meta") or {}).items() if isinstance(v, plain)}


class MMagicAdapter:
    """MMagic 1.x: config ``.py`` + ``iter_*.pth`` in, the same format out."""

    name = "mmagic"
    config_suffix = ".py"

    def load_model(self, checkpoint: str, *, config: str | None = None, device: str = "cpu") -> MMagicGenerator:
        """The generator of ``config`` with the weights of ``checkpoint``, on RGB pictures in [0, 1], in eval mode.

        A checkpoint written by ``wm protect --mode barrier`` loads with the original config too.
        """
        cfg = read_config(config)
        generator = dict(cfg.model.generator)
        state, doc = _read_state(checkpoint)
        space = PixelSpace.from_config(cfg)
        spec = (doc.get("meta") or {}).get("wm_barrier")
        if generator["type"] != _BARRIER and isinstance(spec, dict):
            generator = _barrier_generator(generator, spec, space)
        net = _build(generator, config)
        _, params = _generator_state(state, cfg, checkpoint)
        try:
            net.load_state_dict(params, strict=True)
        except RuntimeError as e:
            raise WeightsError(f"{checkpoint} does not fit model.generator of {config} ({generator['type']}): "
                               f"{str(e).splitlines()[0]}") from None
        return MMagicGenerator(net, space, _size_multiple(cfg)).to(device).eval()

    def run(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs for ``images`` (B,3,H,W in [0, 1]), clamped to [0, 1]."""
        with torch.no_grad():
            return model(images).clamp(0, 1)

    def model_scale(self, config: str | None) -> int:
        """The upscaling factor of the config (``scale``, else the generator's ``upscale_factor``), else 1."""
        try:
            cfg = read_config(config)
        except ConfigError:
            return 1
        scale = cfg.get("scale") or cfg.model.generator.get("upscale_factor") or 1
        return scale if isinstance(scale, int) and scale > 0 else 1

    def save_checkpoint(self, model: MMagicGenerator, path: str, *, like: str | None = None,
                        config: str | None = None) -> None:
        """``like`` with its generator weights replaced by ``model``'s (EMA copy too), in MMagic's format (to a
        ``.safetensors`` path, its state dict alone)."""
        if like is None:
            raise ConfigError("saving an MMagic checkpoint needs the original (like=) for the rest of the model")
        cfg = read_config(config)
        state, doc = _read_state(like)
        save_checkpoint({"meta": _meta(doc), "state_dict": _with_generator(state, cfg, model.generator)}, path,
                        weights="state_dict")

    def save_barrier(self, barrier: WatermarkBarrier, path: str, *, config: str | None = None,
                     like: str | None = None) -> list[str]:
        """Write the protected checkpoint and, beside it, a config whose generator is ``WatermarkBarrierNet``.

        ``like`` (the original checkpoint) gives the rest of the state dict (discriminators, ...) and ``meta``.
        Returns the paths written; the checkpoint also loads with the original config (``meta.wm_barrier``).
        """
        spec = barrier.saved_spec()
        cfg = read_config(config)
        inner: MMagicGenerator = barrier.model
        generator = _barrier_generator(dict(cfg.model.generator), spec, inner.space)
        net = _build(generator, config)
        net.model.load_state_dict(inner.generator.state_dict())
        net.embedder.load_state_dict(barrier.embedder.state_dict())
        net.message.copy_(barrier.message)
        state, doc = _read_state(like) if like else ({}, {})
        save_checkpoint({"meta": {**_meta(doc), "wm_barrier": spec}, "state_dict": _with_generator(state, cfg, net)},
                        path)

        cfg.model.generator = generator
        imports = list((cfg.get("custom_imports") or {}).get("imports", []))
        cfg.custom_imports = {"imports": [*dict.fromkeys([*imports, "wm_mmagic"])], "allow_failed_imports": False}
        cfg.load_from = str(Path(path).resolve())
        py = str(Path(path).with_suffix(self.config_suffix))
        write_text_atomic(py, "# Written by `wm protect --mode barrier`: model.generator is the original generator\n"
                              "# followed by the watermark embedder (WatermarkBarrierNet, registered by wm_mmagic).\n"
                              + cfg.pretty_text)
        return [path, py]

    def train(self, config: str, argv: list[str]) -> None:
        """MMagic's own ``tools/train.py`` on ``config`` (``argv``: its other arguments), the flag honoured."""
        from wm_plugin.train.distributed import shutdown

        from .tools import run_tool

        cfg = read_config(config)
        if cfg.get("watermark"):  # fail here, with the field named, before MMEngine makes folders and logs
            where = f"{config}: watermark"
            check_training_mode(parse_flag(cfg.watermark, where=where), where=where)
        run_tool("train", [str(config), *argv])
        shutdown()  # MMEngine leaves the process group up; gloo's threads then abort at exit, now and then

    def test(self, config: str, argv: list[str]) -> None:
        """MMagic's own ``tools/test.py`` on ``config`` (``argv``: the checkpoint, then its other arguments)."""
        from .tools import run_tool

        read_config(config)
        run_tool("test", [str(config), *argv])
