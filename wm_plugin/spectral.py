"""The spectral scheme: a training-free mark that lives in the image's spectrum, not at pixel positions.

Each carried bit owns a pair of nearby spatial frequencies on one ray from the origin (the pairs are placed
by the key's seed, so their layout is secret). Marking is one fixed linear filter on the luminance: around
one frequency of each pair the image's own spectrum is raised by ``strength`` and around the other it is
lowered, the bit deciding which is which. Reading compares the two energies (a Welch estimate of the
spectrum) after removing the natural fall of energy with frequency.

Why it exists beside the learned codec: everything about it is invariant to translation. The filter is a
convolution, so a crop of a marked image is a marked crop, and a convolutional network trained on random
crops of marked targets (a model absorbing the mark, a thief's surrogate) is asked to learn one fixed filter
rather than a pattern tied to frame position, which no convolutional network can reproduce. It is also the
"traditional", training-free baseline that the learned codec has to beat. The mark is a function of the
image's own texture: flat images carry almost none of it, textured ones more (PSNR varies by image).

Under the null (an image not marked with this key) each read bit is a function of the image and of the
pair layout; the layout and the carried bits are drawn from the seed in separate hash domains, so the bits
agree with the key's carried bits with probability 1/2, as ``wm_plugin.verify`` requires.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import WatermarkError
from .nets._registry import register_net

__all__ = ["SpectralLayout", "SpectralCodec", "SpectralFilter", "DEFAULT_STRENGTH", "max_bits"]

DEFAULT_STRENGTH = 0.4
SIGMA = 0.008                 # bump width, cycles/pixel (the filter's spatial reach is about 1/(2π·SIGMA) ≈ 20 px)
SPACING = 3.2 * SIGMA         # distance between neighbouring bumps
BAND = (0.06, 0.33)           # radii used: above the image's structure, below what JPEG removes first
WINDOW = 128                  # Welch window of the reader: frequency resolution 1/128 < SIGMA
TILE, MARGIN = 448, 64        # marking works on tiles of TILE² plus MARGIN on each side: bounded memory, exact
LOGIT_SCALE = 3.0             # log-energy difference to logit: a clear reading gives |logit| of a few units


def _candidate_pairs(rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(radius, angle, outer radius) of every pair that fits the band, ring pairs at key-random angles."""
    pairs, r = [], BAND[0]
    while r + SPACING <= BAND[1]:
        n = int(math.pi * r / SPACING)
        offset = rng.uniform(0, math.pi / n)
        pairs += [(r, offset + j * math.pi / n, r + SPACING) for j in range(n)]
        r += 2 * SPACING
    return pairs


def max_bits() -> int:
    """The most bits a spectral key can carry (the number of frequency pairs in the band)."""
    return len(_candidate_pairs(np.random.default_rng(0)))


@dataclasses.dataclass(frozen=True, eq=False)
class SpectralLayout:
    """Where the bits live: ``centers`` (2k, 2) in cycles/pixel (x, y), bit i's pair is rows i and k + i."""

    centers: np.ndarray
    log_ratio: np.ndarray  # (k,) log(outer radius / inner radius) of each pair

    @classmethod
    def from_seed(cls, seed: bytes, bits: int) -> "SpectralLayout":
        """The secret layout of a key's ``bits`` pairs, drawn from its seed.

        Raises:
            WatermarkError: more bits than the band holds pairs.
        """
        layout_seed = hashlib.shake_256(b"wm-spectral-layout-v1" + seed).digest(32)
        rng = np.random.default_rng(np.frombuffer(layout_seed, np.uint32))
        pairs = _candidate_pairs(rng)
        if bits > len(pairs):
            raise WatermarkError(f"a spectral key carries at most {len(pairs)} bits; this key has {bits}")
        chosen = [pairs[i] for i in rng.choice(len(pairs), bits, replace=False)]
        inner = [(r * math.cos(a), r * math.sin(a)) for r, a, _ in chosen]
        outer = [(o * math.cos(a), o * math.sin(a)) for _, a, o in chosen]
        return cls(np.array(inner + outer), np.array([math.log(o / r) for r, _, o in chosen]))

    @property
    def bits(self) -> int:
        return len(self.log_ratio)

    @functools.lru_cache(maxsize=16)
    def bumps(self, h: int, w: int) -> torch.Tensor:
        """(2k, h, w//2+1): each bump as a Gaussian on the ``rfft2`` grid of an h×w block (both of ±f)."""
        fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
        fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
        out = torch.zeros(len(self.centers), h, w // 2 + 1, dtype=torch.float64)
        for i, (cx, cy) in enumerate(self.centers):
            for s in (1, -1):
                out[i] += torch.exp(-((fx - s * cx) ** 2 + (fy - s * cy) ** 2) / (2 * SIGMA**2))
        return out.float()

    def __hash__(self) -> int:  # for the cache: a layout is identified by its centres
        return hash(self.centers.tobytes())

    def __eq__(self, other) -> bool:
        return isinstance(other, SpectralLayout) and np.array_equal(self.centers, other.centers)


class SpectralCodec:
    """Mark and read images with the spectral scheme of one key.

    Offers what the CLI and ``wm_plugin.api`` use of ``WatermarkCodec`` (``mark``, ``embed``, ``extract``,
    ``shrink`` + ``read``, ``bits``, ``device``), so every verb works with a spectral key.

    Args:
        layout: the key's pair layout (``SpectralLayout.from_seed``).
        strength: relative change of the spectrum at the bump centres (0.4: ×1.4 and ×0.6).
        device: where the FFTs run.
    """

    psnr = None  # the strength is relative to each image's own texture, not a PSNR

    def __init__(self, layout: SpectralLayout, *, strength: float = DEFAULT_STRENGTH, device: str = "cpu"):
        if not 0 < strength < 1:
            raise WatermarkError(f"spectral strength must be in (0, 1), got {strength}")
        self.layout, self.strength, self.device = layout, strength, torch.device(device)
        self.bits = layout.bits

    @classmethod
    def for_key(cls, key, **kwargs) -> "SpectralCodec":
        """The codec of an ``OwnerKey``."""
        return cls(SpectralLayout.from_seed(key.seed, key.bits), **kwargs)

    def _signs(self, bits: np.ndarray) -> torch.Tensor:
        bits = np.asarray(bits, np.float32).reshape(-1)
        if len(bits) != self.bits:
            raise WatermarkError(f"this spectral layout carries {self.bits} bits, got {len(bits)}")
        s = torch.from_numpy(bits * 2 - 1)
        return torch.cat([s, -s])

    @functools.lru_cache(maxsize=8)
    def _response(self, h: int, w: int, bits_key: bytes) -> torch.Tensor:
        """The filter minus identity, ``strength`` · Σ ± bump, on the rfft grid of an h×w block."""
        signs = self._signs(np.frombuffer(bits_key, np.uint8))
        return self.strength * torch.einsum("k,khw->hw", signs, self.layout.bumps(h, w))

    def residual(self, luma: torch.Tensor, bits: np.ndarray) -> torch.Tensor:
        """The mark for a luminance plane (H,W, any scale): the filter's output minus the plane, tile by tile."""
        bits_key = np.asarray(bits, np.uint8).reshape(-1).tobytes()
        h, w = luma.shape
        mode = "reflect" if min(h, w) > MARGIN else "replicate"
        padded = F.pad(luma[None, None], (MARGIN,) * 4, mode=mode)[0, 0]
        out = torch.empty_like(luma)
        for y in range(0, h, TILE):
            for x in range(0, w, TILE):
                th, tw = min(TILE, h - y), min(TILE, w - x)
                block = padded[y : y + th + 2 * MARGIN, x : x + tw + 2 * MARGIN]
                response = self._response(*block.shape, bits_key).to(luma.device)
                filtered = torch.fft.irfft2(torch.fft.rfft2(block) * response, s=block.shape)
                out[y : y + th, x : x + tw] = filtered[MARGIN : MARGIN + th, MARGIN : MARGIN + tw]
        return out

    def mark_batch(self, images: torch.Tensor, bits: np.ndarray) -> torch.Tensor:
        """A batch (B,C,H,W in [0, 1]) with the mark added to each image, clamped; differentiable (a barrier
        can be trained through, as a thief fine-tuning a protected checkpoint does)."""
        res = torch.stack([self.residual(x.mean(dim=0), bits) for x in images])
        return (images + res[:, None]).clamp(0, 1)

    @torch.no_grad()
    def mark(self, pixels: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Mark H×W×C integer pixels (uint8 or uint16; C = 1 or 3); same dtype and shape back."""
        peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
        x = torch.from_numpy(pixels.astype(np.float32)).to(self.device)
        res = self.residual(x.mean(dim=2), bits)
        out = x.add_(res[..., None]).round_().clamp_(0, peak).cpu().numpy()
        return out.astype(pixels.dtype)

    @torch.no_grad()
    def embed(self, rgb: np.ndarray, bits: np.ndarray, *, grey: bool = False) -> np.ndarray:
        """Mark an H×W×3 float image in [0, 1]; returns the marked image, same shape (unrounded)."""
        x = torch.from_numpy(np.asarray(rgb, np.float32)).to(self.device)
        res = self.residual(x.mean(dim=2), bits)
        return (x + res[..., None]).clamp_(0, 1).cpu().numpy()

    def energies(self, luma: torch.Tensor) -> torch.Tensor:
        """Mean log spectrum around each bump, (B, 2k), of luminance planes (B,H,W in [0, 1]); differentiable.

        A Welch estimate: Hann-tapered windows of ``WINDOW``² at half overlap, their power averaged. Planes
        smaller than the window use one window of their own (even) size; they read poorly, as any image with
        few pixels does.
        """
        win = max(2, min(WINDOW, *luma.shape[-2:]) // 2 * 2)
        patches = luma.unfold(1, win, win // 2).unfold(2, win, win // 2).reshape(len(luma), -1, win, win)
        taper = torch.hann_window(win, periodic=False, device=luma.device)
        power = 0
        for chunk in patches.split(256, dim=1):  # bounded memory on 8K frames
            chunk = (chunk - chunk.mean(dim=(2, 3), keepdim=True)) * taper[:, None] * taper[None, :]
            power = power + torch.fft.rfft2(chunk).abs().square().sum(dim=1)
        bumps = self.layout.bumps(win, win).to(luma.device)
        weights = bumps / bumps.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        return torch.einsum("khw,bhw->bk", weights, torch.log(power / patches.shape[1] + 1e-12))

    def logits(self, energies: torch.Tensor) -> torch.Tensor:
        """Bit logits (B, k) from ``energies`` (B, 2k); differentiable. A positive logit reads bit 1."""
        k = self.bits
        diff = energies[:, :k] - energies[:, k:]  # inner minus outer: bit 1 raised the inner bump
        ratio = torch.as_tensor(self.layout.log_ratio, dtype=diff.dtype, device=diff.device)
        # Energy falls with frequency by a power law: the slope per image, robust to the marked pairs
        # (half push each way), is taken out so that only the bumps' contrast remains.
        slope = torch.median((diff / ratio).detach(), dim=1, keepdim=True).values
        return (diff - slope * ratio) * LOGIT_SCALE

    @torch.no_grad()
    def shrink(self, image: np.ndarray) -> torch.Tensor:
        """What the reader keeps of an H×W×C image (float in [0, 1], uint8 or uint16): ``energies``, (2k,)."""
        peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype, 1.0)
        luma = torch.from_numpy(np.asarray(image, np.float32)).to(self.device).mean(dim=2) / peak
        return self.energies(luma[None])[0].cpu()

    @torch.no_grad()
    def read(self, energies: torch.Tensor) -> np.ndarray:
        """Bit logits (n, k) as numpy from ``shrink`` outputs stacked (n, 2k)."""
        return self.logits(energies).numpy()

    def extract(self, images: Sequence[np.ndarray], *, batch: int = 16) -> np.ndarray:
        """Bit logits (n, k) for H×W×C images (float in [0, 1], uint8 or uint16)."""
        if not len(images):
            return np.zeros((0, self.bits), np.float32)
        return self.read(torch.stack([self.shrink(a) for a in images]))


class SpectralFilter(torch.nn.Module):
    """The spectral mark as a module, for a barrier after a model (``wm protect --mode barrier``).

    The layout is a buffer, so a protected checkpoint carries it and the adapters save and rebuild this
    module as they do the learned embedder (``{"net": "spectral_filter", "bits": k, "strength": s}``). The
    layout tells where the bits live, not the key's seed: whoever holds the protected checkpoint could read
    the bits (as anyone with the barrier's weights could), but cannot make another key's mark.
    """

    def __init__(self, bits: int = 64, strength: float = DEFAULT_STRENGTH):
        super().__init__()
        self.bits, self.strength = bits, strength
        self.register_buffer("centers", torch.zeros(2 * bits, 2, dtype=torch.float64))
        self.register_buffer("log_ratio", torch.zeros(bits, dtype=torch.float64))
        self._codec: tuple[bytes, SpectralCodec] | None = None

    @classmethod
    def for_key(cls, key, strength: float = DEFAULT_STRENGTH) -> "SpectralFilter":
        """The filter of an ``OwnerKey``'s layout."""
        layout = SpectralLayout.from_seed(key.seed, key.bits)
        net = cls(key.bits, strength)
        net.centers.copy_(torch.from_numpy(layout.centers))
        net.log_ratio.copy_(torch.from_numpy(layout.log_ratio))
        return net

    @property
    def spec(self) -> dict:
        """How to rebuild this module (its buffers come from a state dict)."""
        return {"net": "spectral_filter", "bits": self.bits, "strength": self.strength}

    def codec(self) -> SpectralCodec:
        """The codec of the current buffers (rebuilt when a state dict changed them)."""
        centers = self.centers.detach().cpu().numpy()
        if self._codec is None or self._codec[0] != centers.tobytes():
            layout = SpectralLayout(centers.copy(), self.log_ratio.detach().cpu().numpy().copy())
            self._codec = (centers.tobytes(), SpectralCodec(layout, strength=self.strength))
        return self._codec[1]

    def mark(self, images: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        """``images`` (B,C,H,W in [0, 1]) marked with ``message`` (k,) or (1,k) of 0/1, clamped."""
        return self.codec().mark_batch(images.clamp(0, 1), message.reshape(-1).cpu().numpy())


@register_net
def spectral_filter(**kwargs) -> SpectralFilter:
    """The spectral mark as a barrier module (no weights: its layout buffers come from a checkpoint)."""
    return SpectralFilter(**kwargs)
