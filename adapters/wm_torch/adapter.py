"""``TorchAdapter``: the adapter contract (``wm_plugin.adapters``) for bare PyTorch modules and state dicts.

The "config" is an architecture spec, ``package.module:Class`` or ``package.module:Class(key=value, ...)``
with literal keyword arguments. Importing ``package.module`` runs that module's code: it is the owner's
own code, named on the command line. The checkpoint (the suspect's file) is read without running code
(``wm_plugin.checkpoint``).
"""

from __future__ import annotations

import ast
import importlib
import inspect

import torch
from torch import nn

from wm_plugin.barrier import WatermarkBarrier, build_embedder
from wm_plugin.checkpoint import read_state_dict, save_checkpoint
from wm_plugin.errors import ConfigError, WeightsError

__all__ = ["TorchAdapter", "build_arch"]

_STATE_KEYS = ("state_dict", "params_ema", "params", "model", "net", "generator")


def build_arch(spec: str | None) -> nn.Module:
    """The module ``spec`` names: ``package.module:Class`` or ``package.module:Class(key=literal, ...)``.

    Raises:
        ConfigError: a malformed spec, a module or class that does not import, or arguments it refuses.
    """
    if not spec:
        raise ConfigError("--arch: name the model class, e.g. --arch 'my_models.unet:UNet(width=32)'")
    try:
        call = ast.parse(spec.split(":", 1)[1] if ":" in spec else "", mode="eval").body
        if isinstance(call, ast.Name):
            name, kwargs = call.id, {}
        elif isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args:
            name, kwargs = call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        else:
            raise ValueError
    except (SyntaxError, ValueError):
        raise ConfigError(f"--arch {spec!r}: expected package.module:Class or package.module:Class(key=value, ...) "
                          "with literal values") from None
    module_name = spec.split(":", 1)[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"--arch {spec!r}: cannot import {module_name} ({e})") from None
    cls = getattr(module, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise ConfigError(f"--arch {spec!r}: {module_name} has no nn.Module class {name}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"--arch {spec!r}: {e}") from None


class TorchAdapter:
    """Bare PyTorch: ``--arch module:Class(...)`` + a state-dict checkpoint in, a state-dict checkpoint out."""

    name = "torch"

    def load_model(self, checkpoint: str, *, config: str | None = None, device: str = "cpu") -> nn.Module:
        """The module ``config`` names with the weights of ``checkpoint``, in eval mode.

        A checkpoint written by ``wm protect --mode barrier`` (it records ``wm_barrier``) loads as the
        module followed by the embedder.
        """
        net = build_arch(config)
        state, doc = read_state_dict(checkpoint, _STATE_KEYS)
        spec = doc.get("wm_barrier")
        if isinstance(spec, dict):
            h = build_embedder(spec["embedder"])
            net = WatermarkBarrier(net, h, torch.zeros(h.bits, dtype=torch.uint8), spec["psnr"], spec=spec["embedder"])
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise WeightsError(f"{checkpoint} does not fit {config}: {str(e).splitlines()[0]}") from None
        return net.to(device).eval()

    def model_scale(self, config: str | None) -> int:
        """The upscaling factor of the module ``config`` names: the side of its answer to a 32 px input over 32
        (1 where it cannot say: the spec does not build, or the module refuses that input)."""
        side = 32
        try:
            with torch.no_grad():
                answer = build_arch(config).eval()(torch.zeros(1, 3, side, side))
        except (ConfigError, RuntimeError, ValueError):
            return 1
        scale = answer.shape[-1] / side if isinstance(answer, torch.Tensor) and answer.ndim == 4 else 1
        return int(scale) if scale >= 1 and scale == int(scale) else 1

    def run(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs for ``images`` (B,3,H,W in [0, 1]), clamped to [0, 1]."""
        with torch.no_grad():
            return model(images).clamp(0, 1)

    def save_checkpoint(self, model: nn.Module, path: str, *, like: str | None = None,
                        config: str | None = None) -> None:
        """``{'state_dict': state}`` (to a ``.safetensors`` path, the state alone)."""
        save_checkpoint({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path,
                        weights="state_dict")

    def save_barrier(self, barrier: WatermarkBarrier, path: str, *, config: str | None = None,
                     like: str | None = None) -> list[str]:
        """The barrier's state dict (``model.*``: the original weights) and ``wm_barrier``, how to rebuild H.

        Load it with ``TorchAdapter().load_model(path, config=SPEC)``, or in your own code by wrapping your
        module in ``wm_plugin.barrier.WatermarkBarrier`` before ``load_state_dict``.
        """
        spec = barrier.saved_spec()
        state = {k: v.detach().cpu() for k, v in barrier.state_dict().items()}
        save_checkpoint({"state_dict": state, "wm_barrier": spec, "arch": config}, path)
        return [path]

    def train(self, config: str, argv: list[str]) -> None:
        """Bare PyTorch has no training loop of its own to wrap."""
        raise ConfigError("--arch models have no framework training to run; train with your own loop, or use "
                          "BasicSR or MMagic (wm basicsr-train, wm mmagic-train)")
