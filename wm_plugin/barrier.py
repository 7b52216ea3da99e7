"""The watermark barrier: H after a model M, so that every output of M carries the owner's mark.

The seed paper's "task-agnostic barrier". It needs no training: the shipped embedder marks whatever M
outputs. Its weakness is that it is a separate stage a thief can cut off when the weights are stolen;
absorbing it into M (training M on barrier outputs) is the answer to that, and the adapters offer both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .codec import DEFAULT_PSNR, add_mark, default_weights_dir
from .errors import WeightsError
from .nets import Embedder, create_net, load_net
from .nets.weights import read_net_metadata
from .spectral import SpectralFilter

__all__ = ["WatermarkBarrier", "load_embedder", "embedder_spec", "build_embedder"]


def load_embedder(weights: str | Path | None = None) -> Embedder:
    """The embedder of a weights folder (default: the shipped one), frozen and in eval mode."""
    net = load_net(Path(weights or default_weights_dir()) / "embedder.safetensors")
    return net.eval().requires_grad_(False)


def embedder_spec(weights: str | Path | None = None) -> dict:
    """How to rebuild the embedder of a weights folder: ``{"net": name, **config}`` (JSON-able)."""
    meta = read_net_metadata(Path(weights or default_weights_dir()) / "embedder.safetensors")
    return {"net": meta["net"], **json.loads(meta["config"])}


def build_embedder(spec: dict) -> Embedder | SpectralFilter:
    """An untrained embedder shaped as ``spec`` says (its weights come from a saved state dict)."""
    config = dict(spec)
    return create_net(config.pop("net"), **config).eval().requires_grad_(False)


class WatermarkBarrier(nn.Module):
    """``model`` followed by ``embedder``: outputs (B,C,H,W in [0, 1]) marked with ``bits``.

    The message and the strength are buffers, so a saved state dict restores them; the owner's secret key
    never enters the model (the carried bits are what any extractor reads from the outputs anyway).

    Args:
        model: the image-to-image network M.
        embedder: H (kept frozen).
        bits: the carried bits, ``OwnerKey.carried_bits()``.
        psnr: strength of the mark in each output, in dB.
        spec: how to rebuild ``embedder`` (``embedder_spec``), for adapters that save the barrier.
    """

    def __init__(self, model: nn.Module, embedder: Embedder | SpectralFilter, bits: np.ndarray | torch.Tensor,
                 psnr: float = DEFAULT_PSNR, *, spec: dict | None = None):
        super().__init__()
        self.model = model
        self.embedder = embedder.eval().requires_grad_(False)
        self.spec = spec
        self.register_buffer("message", torch.as_tensor(np.asarray(bits), dtype=torch.uint8).reshape(1, -1).clone())
        self.register_buffer("psnr", torch.tensor(float(psnr)))

    @classmethod
    def from_pretrained(cls, model: nn.Module, bits: np.ndarray, *, weights: str | Path | None = None,
                        psnr: float = DEFAULT_PSNR) -> "WatermarkBarrier":
        """``model`` followed by the embedder of ``weights`` (default: the shipped one)."""
        return cls(model, load_embedder(weights), bits, psnr, spec=embedder_spec(weights))

    @classmethod
    def for_key(cls, model: nn.Module, key, *, weights: str | Path | None = None,
                psnr: float = DEFAULT_PSNR) -> "WatermarkBarrier":
        """``model`` followed by what ``key``'s scheme marks with: the learned embedder of ``weights`` (deep
        keys, at ``psnr``) or the key's spectral filter (spectral keys)."""
        if key.scheme == "spectral":
            h = SpectralFilter.for_key(key)
            return cls(model, h, key.carried_bits(), 0.0, spec=h.spec)
        return cls.from_pretrained(model, key.carried_bits(), weights=weights, psnr=psnr)

    def saved_spec(self) -> dict:
        """What an adapter records beside the saved weights (``wm_barrier``) to rebuild this barrier:
        ``{"embedder": spec, "psnr": dB}``.

        Raises:
            WeightsError: the barrier was made without ``spec``.
        """
        if self.spec is None:
            raise WeightsError("this barrier does not know how its embedder is built; make it with "
                               "WatermarkBarrier.for_key or WatermarkBarrier.from_pretrained")
        return {"embedder": dict(self.spec), "psnr": float(self.psnr)}

    def train(self, mode: bool = True) -> "WatermarkBarrier":
        super().train(mode)
        self.embedder.eval()  # H stays in inference mode, whatever the framework does to the wrapper
        return self

    def mark(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (B,3,H,W in [0, 1]) with the mark added, clamped to [0, 1]."""
        if isinstance(self.embedder, SpectralFilter):
            return self.embedder.mark(images, self.message)
        patterns = self.embedder.message_patterns(self.message)
        return add_mark(self.embedder, images.clamp(0, 1), patterns, float(self.psnr)).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mark(self.model(x))
