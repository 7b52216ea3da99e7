"""Embed and extract at any image size, through the networks' fixed working resolution.

An image is resized to the working resolution (anti-aliased), H computes the residual there, and the
residual is resized back to the image's own size and added; R reads a resized copy. The cost of H and R
is therefore the same for a thumbnail and for a 4K frame, and the residual is smooth at large sizes,
which is what makes it survive JPEG and rescaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import WeightsError
from .nets import Embedder, Extractor, load_net
from .strips import STRIP_PIXELS, mark_in_strips

__all__ = ["WatermarkCodec", "DEFAULT_PSNR", "add_mark", "default_weights_dir", "resize", "rms"]

DEFAULT_PSNR = 43.5  # the strength of every mark unless asked otherwise (BENCHMARKS.md, "Chroma smoothing")


def default_weights_dir() -> Path:
    """The folder of the shipped pretrained embedder and extractor."""
    return Path(__file__).parent / "weights"


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (B,C,H,W) batch to ``size``, anti-aliased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    if shrink and x.dtype in (torch.float16, torch.bfloat16):  # torch's anti-aliased kernels lack half types on CPU
        return F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False).to(x.dtype)
    return F.interpolate(x, size=size, mode="bilinear", antialias=shrink, align_corners=False)


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """A CPU tensor over an H×W×C array (uint16 widened: torch has few uint16 kernels), without warnings."""
    if arr.dtype == np.uint16:
        arr = arr.astype(np.int32)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr)  # torch refuses to wrap read-only memory silently
    return torch.from_numpy(arr)


def rms(x: torch.Tensor) -> torch.Tensor:
    """Root mean square of a whole tensor (kept away from zero)."""
    return x.pow(2).mean().add(1e-12).sqrt()


def add_mark(embedder: Embedder, x: torch.Tensor, patterns: torch.Tensor, psnr: float, *, peak: float = 1.0,
             inplace: bool = False) -> torch.Tensor:
    """``x`` (B,C,H,W, C = 1 grey or 3, values in [0, peak]) plus the mark H draws from ``patterns``, unclamped.

    ``patterns`` are H's carrier planes for one message (``Embedder.message_patterns``), shared by the batch.
    Differentiable in ``x``; the caller decides about gradients. ``inplace`` adds the mark to ``x`` itself
    (for callers that own ``x``: one full-size image fewer in memory).
    """
    b, _, h, w = x.shape
    small = resize(x.expand(-1, 3, -1, -1), (embedder.size, embedder.size)) / peak
    res = embedder(small, None, patterns=patterns.expand(b, *patterns.shape[1:]))
    if x.shape[1] == 1:
        res = res.mean(dim=1, keepdim=True)
    # Scaled at the image's own size: resizing changes the residual's energy (a working-resolution
    # pattern loses much of it when enlarged), and the PSNR asked for is the image's.
    # Memory at full size is what limits large images: the gain is made before the full-size residual
    # exists, applied in place when no gradient needs the product, and the energy is a reduction.
    gain = embedder.detail_gain(x, peak=peak)
    # Channels-last, like the image: interleaved layouts resize and add several times faster on CPU.
    res = resize(res.contiguous(memory_format=torch.channels_last), (h, w))
    if gain is not None:
        res = res * gain if torch.is_grad_enabled() and (res.requires_grad or gain.requires_grad) else res.mul_(gain)
        del gain
    energy = torch.linalg.vector_norm(res, dim=(1, 2, 3), keepdim=True).square() / res[0].numel()
    scale = peak * 10 ** (-psnr / 20) / energy.add(1e-12).sqrt()
    return x.addcmul_(res, scale) if inplace else torch.addcmul(x, res, scale)


class WatermarkCodec:
    """A pair (H, R) ready to mark and read images of any size.

    Args:
        embedder: H, or None for an extract-only codec.
        extractor: R.
        device: where the networks run (``cpu``, ``cuda``).
        psnr: strength, as the PSNR (dB) of the mark in the image (before 8-bit rounding); higher is fainter.
    """

    def __init__(self, embedder: Embedder | None, extractor: Extractor, *, device: str = "cpu",
                 psnr: float = DEFAULT_PSNR):
        self.device = torch.device(device)
        self.embedder = embedder.to(self.device).eval() if embedder is not None else None
        self.extractor = extractor.to(self.device).eval()
        self.size = extractor.size
        self.bits = extractor.bits
        self.psnr = psnr
        self._patterns: dict[bytes, torch.Tensor] = {}

    @classmethod
    def from_pretrained(cls, weights: str | Path | None = None, *, device: str = "cpu",
                        psnr: float = DEFAULT_PSNR) -> "WatermarkCodec":
        """Load ``embedder.safetensors`` and ``extractor.safetensors`` from ``weights`` (default: shipped).

        Raises:
            WeightsError: a file is missing or does not fit.
        """
        folder = Path(weights) if weights else default_weights_dir()
        if not folder.is_dir():
            raise WeightsError(f"weights folder not found: {folder}")
        h = load_net(folder / "embedder.safetensors")
        r = load_net(folder / "extractor.safetensors")
        if (h.bits, h.size) != (r.bits, r.size):
            raise WeightsError(f"{folder}: embedder ({h.bits} bits, {h.size}px) and extractor ({r.bits}, {r.size}px) "
                               "differ")
        return cls(h, r, device=device, psnr=psnr)

    def _check_bits(self, bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits, np.uint8).reshape(-1)
        if len(bits) != self.bits:
            raise WeightsError(f"the networks carry {self.bits} bits but the key has {len(bits)}; "
                               f"make a {self.bits}-bit key or train networks for {len(bits)} bits")
        return bits

    @torch.no_grad()
    def patterns(self, bits: np.ndarray) -> torch.Tensor:
        """H's carrier planes for ``bits`` (cached: a key's planes are computed once)."""
        bits = self._check_bits(bits)
        key = bits.tobytes()
        if key not in self._patterns:
            t = torch.from_numpy(bits).to(self.device).unsqueeze(0)
            self._patterns[key] = self.embedder.message_patterns(t)
        return self._patterns[key]

    @torch.no_grad()
    def _marked(self, x: torch.Tensor, bits: np.ndarray, peak: float) -> torch.Tensor:
        """``x`` (1,C,H,W, C = 1 grey or 3, values in [0, peak]; a tensor of the codec's own, marked in place)
        plus the mark, not yet clamped or rounded."""
        if self.embedder is None:
            raise WeightsError("this codec was built without an embedder; it can only extract")
        return add_mark(self.embedder, x, self.patterns(bits), self.psnr, peak=peak, inplace=True)

    def embed(self, rgb: np.ndarray, bits: np.ndarray, *, grey: bool = False) -> np.ndarray:
        """Mark an H×W×3 float image in [0, 1] with ``bits``; returns the marked image, same shape.

        Args:
            rgb: the image's colour channels.
            bits: the k carried bits (0/1), usually ``OwnerKey.carried_bits()``.
            grey: the image is grey (three equal channels); the mark is kept grey too.
        """
        # a copy: marked in place
        x = torch.tensor(np.asarray(rgb, np.float32)).permute(2, 0, 1).unsqueeze(0).to(self.device)
        if grey:
            x = x[:, :1]
        out = self._marked(x, bits, 1.0).clamp_(0, 1).expand(-1, 3, -1, -1)
        return out[0].permute(1, 2, 0).cpu().numpy()

    def mark(self, pixels: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Mark H×W×C integer pixels (uint8 or uint16; C = 1 grey or 3 RGB); returns the same dtype and shape.

        The fast path for files: the image stays in its interleaved layout (channels-last to torch) and is
        rounded back to integers in place, with no float copy on the numpy side.
        """
        peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
        if self.device.type == "cpu" and pixels.shape[0] * pixels.shape[1] > STRIP_PIXELS:
            if self.embedder is None:
                raise WeightsError("this codec was built without an embedder; it can only extract")
            with torch.no_grad():  # bounded memory at any size, the same result (wm_plugin.strips)
                return mark_in_strips(self.embedder, pixels, self.patterns(bits), self.psnr, peak=peak)
        x = _to_tensor(pixels).to(self.device).permute(2, 0, 1).unsqueeze(0).float()
        out = self._marked(x, bits, peak).round_().clamp_(0, peak)
        out = out[0].permute(1, 2, 0).cpu()
        return out.numpy().astype(pixels.dtype) if pixels.dtype == np.uint16 else out.to(torch.uint8).numpy()

    @torch.no_grad()
    def shrink(self, image: np.ndarray) -> torch.Tensor:
        """An H×W×C image (float in [0, 1], uint8 or uint16; C = 1 or 3) at the working resolution, (3,size,size)."""
        peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype, 1.0)
        x = _to_tensor(image).to(self.device).permute(2, 0, 1).unsqueeze(0).float()
        return resize(x, (self.size, self.size))[0].expand(3, -1, -1) / peak

    @torch.no_grad()
    def read(self, small: torch.Tensor) -> np.ndarray:
        """Bit logits (n, k) for images already at the working resolution (n,3,size,size)."""
        return self.extractor(small.to(self.device)).float().cpu().numpy()

    def extract(self, images: Sequence[np.ndarray], *, batch: int = 16) -> np.ndarray:
        """Bit logits (n, k) for images as ``shrink`` takes them; a positive logit reads bit 1."""
        out = [self.read(torch.stack([self.shrink(a) for a in images[i : i + batch]]))
               for i in range(0, len(images), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.bits), np.float32)
