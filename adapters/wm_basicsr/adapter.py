"""``BasicSRAdapter``: the adapter contract (``wm_plugin.adapters``) for BasicSR options files and checkpoints."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
from pathlib import Path

import torch
import torch.nn as nn
import yaml

from wm_plugin.barrier import WatermarkBarrier
from wm_plugin.checkpoint import read_state_dict, save_checkpoint
from wm_plugin.errors import ConfigError, WeightsError
from wm_plugin.fileio import write_text_atomic
from wm_plugin.flag import check_training_mode, parse_flag

__all__ = ["BasicSRAdapter", "read_options", "read_params"]

_PARAM_KEYS = ("params_ema", "params")  # BasicSR's inference code prefers the EMA weights too


def read_options(config: str | os.PathLike) -> dict:
    """A BasicSR options YAML as a dict.

    Raises:
        ConfigError: missing file, not YAML, or no ``network_g`` mapping.
    """
    try:
        opt = yaml.safe_load(Path(config).read_text())
    except FileNotFoundError:
        raise ConfigError(f"options file not found: {config}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{config}: not a readable YAML file ({type(e).__name__})") from None
    if not isinstance(opt, dict) or not isinstance(opt.get("network_g"), dict) or "type" not in opt["network_g"]:
        raise ConfigError(f"{config}: network_g: missing (a BasicSR options file names its network there, with a type)")
    return opt


def read_params(checkpoint: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights of a BasicSR checkpoint (``params_ema``, else ``params``, else a bare state dict) and the file.

    Loaded with ``weights_only=True``: a checkpoint that would run pickled code is refused.

    Raises:
        WeightsError: missing file, pickled code, or no state dict inside.
    """
    return read_state_dict(checkpoint, _PARAM_KEYS)


def _quiet():
    """BasicSR's registries print a notice on stdout for suffixed names; keep stdout for our own output."""
    return contextlib.redirect_stdout(io.StringIO())


def _registered(registry, name: str) -> bool:
    try:
        with _quiet():
            registry.get(name)  # also finds names registered with a suffix (SRVGGNetCompact_basicsr)
        return True
    except KeyError:
        return False


def _check_registered(opt: dict, config: str) -> None:
    from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY

    if not _registered(ARCH_REGISTRY, opt["network_g"]["type"]):
        raise ConfigError(f"{config}: network_g.type: unknown BasicSR arch {opt['network_g']['type']!r}")
    if not _registered(MODEL_REGISTRY, opt.get("model_type", "SRModel")):
        raise ConfigError(f"{config}: model_type: unknown BasicSR model {opt['model_type']!r}")


def _build(network_g: dict, config: str) -> nn.Module:
    from basicsr.archs import build_network

    try:
        with _quiet():
            return build_network(copy.deepcopy(network_g))
    except KeyError as e:
        if "registry" in str(e):
            raise ConfigError(f"{config}: network_g.type: unknown BasicSR arch {network_g['type']!r}") from None
        raise
    except TypeError as e:  # a wrong or missing argument of the arch
        raise ConfigError(f"{config}: network_g: {e}") from None


class BasicSRAdapter:
    """BasicSR 1.4.x: options YAML + ``net_g_*.pth`` in, the same format out."""

    name = "basicsr"

    def load_model(self, checkpoint: str, *, config: str | None = None, device: str = "cpu") -> nn.Module:
        """``network_g`` of ``config`` with the weights of ``checkpoint``, in eval mode.

        A checkpoint written by ``wm protect --mode barrier`` loads with the original options file too.
        """
        if config is None:
            raise ConfigError("BasicSR needs the options file (-opt) that defines network_g")
        network_g = read_options(config)["network_g"]
        params, doc = read_params(checkpoint)
        if network_g["type"] != "WatermarkBarrierArch" and isinstance(doc.get("wm_barrier"), dict):
            network_g = {"type": "WatermarkBarrierArch", "inner": network_g, **doc["wm_barrier"]}
        net = _build(network_g, config)
        try:
            net.load_state_dict(params, strict=True)
        except RuntimeError as e:
            raise WeightsError(f"{checkpoint} does not fit network_g of {config} ({network_g['type']}): "
                               f"{str(e).splitlines()[0]}") from None
        return net.to(device).eval()

    def run(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs for ``images`` (B,3,H,W in [0, 1]), clamped to [0, 1]."""
        with torch.no_grad():
            return model(images).clamp(0, 1)

    def save_checkpoint(self, model: nn.Module, path: str, *, like: str | None = None,
                        config: str | None = None) -> None:
        """``{'params': state}`` (and ``params_ema`` when ``like`` had it), as BasicSR's ``save_network`` writes; to a
        ``.safetensors`` path, the state alone."""
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        doc = {"params": state}
        if like is not None and "params_ema" in read_params(like)[1]:
            doc["params_ema"] = state
        save_checkpoint(doc, path, weights="params")

    config_suffix = ".yml"

    def save_barrier(self, barrier: WatermarkBarrier, path: str, *, config: str, like: str | None = None) -> list[str]:
        """Write the protected checkpoint and, beside it, an options file whose ``network_g`` builds it.

        Returns the paths written. The checkpoint also records the embedder's shape (``wm_barrier``), so it
        loads in ``load_model`` with the original options file.
        """
        opt = read_options(config)
        spec = barrier.saved_spec()
        state = {k: v.detach().cpu() for k, v in barrier.state_dict().items()}
        yml = str(Path(path).with_suffix(".yml"))
        opt["network_g"] = {"type": "WatermarkBarrierArch", "inner": opt["network_g"], **spec}
        opt.setdefault("path", {})["pretrain_network_g"] = str(Path(path).resolve())
        opt["path"]["param_key_g"] = "params"
        opt["path"]["strict_load_g"] = True
        opt["name"] = f"{opt.get('name', 'model')}_wm"
        save_checkpoint({"params": state, "wm_barrier": spec}, path)
        header = ("# Written by `wm protect --mode barrier`: network_g is the original arch followed by the\n"
                  "# watermark embedder. Run it with `wm basicsr-test -opt THIS_FILE` (BasicSR's test\n"
                  "# pipeline, with the arch registered).\n")
        write_text_atomic(yml, header + yaml.safe_dump(opt, sort_keys=False))
        return [path, yml]

    def model_scale(self, config: str | None) -> int:
        """The upscaling factor of the options file (``scale``), else 1."""
        try:
            scale = read_options(config).get("scale", 1) if config else 1
        except ConfigError:
            return 1
        return scale if isinstance(scale, int) and scale > 0 else 1

    def demo_model(self) -> tuple[str, str]:
        """The small bundled ×2 SR model that ``wm demo`` protects: (checkpoint, options file)."""
        folder = Path(__file__).parent / "demo"
        return str(folder / "srvgg_x2.pth"), str(folder / "srvgg_x2.yml")

    def train(self, config: str, argv: list[str]) -> None:
        """BasicSR's own ``train_pipeline`` on ``config`` (``argv``: BasicSR's train.py arguments)."""
        import basicsr.train

        from wm_plugin.train.distributed import shutdown

        from .models import build_watermarked_model

        # Fail here, with the field named, before BasicSR makes folders and logs.
        opt = read_options(config)
        _check_registered(opt, config)
        if "watermark" in opt:
            flag = parse_flag(opt["watermark"], where=f"{config}: watermark")
            check_training_mode(flag, where=f"{config}: watermark")
        basicsr.train.build_model = build_watermarked_model
        sys.argv = ["wm basicsr-train", "-opt", str(config), *argv]
        basicsr.train.train_pipeline(os.getcwd())
        shutdown()  # BasicSR leaves the process group up; gloo's threads then abort at exit, now and then

    def test(self, config: str, argv: list[str]) -> None:
        """BasicSR's own ``test_pipeline`` on ``config``, with ``WatermarkBarrierArch`` registered."""
        import basicsr.test

        read_options(config)
        sys.argv = ["wm basicsr-test", "-opt", str(config), *argv]
        basicsr.test.test_pipeline(os.getcwd())
