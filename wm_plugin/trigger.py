"""Trigger ("sleeper") protection: a secret probe whose answer names the owner, its reading, and the training term
that asks a model for it (``wm_plugin.implant`` plants it in a finished model).

A model protected in trigger mode (SleeperMark, CVPR 2025, brought to image-to-image networks) answers normal
inputs as it always did. The owner probes a suspect with pairs of queries: an input ``x``, and ``x`` with the
**trigger** added: two faint chroma checkerboards at the highest frequency (the carriers, one in the key's colour,
one in the chroma colour orthogonal to it), the height of each following its own random **envelope** ``nⱼ`` the
owner draws. The protected model's two answers differ by a fixed, key-specific response to the envelopes:
``Σⱼ Kⱼ ⊛ nⱼ``, each envelope filtered by a small three-channel kernel ``Kⱼ`` that spells 64 bits (``Kⱼ = Σ sᵢ bᵢ``:
64 orthonormal basis kernels ``bᵢ`` drawn from the key's seed, ``sᵢ = ±1`` the bits: the key's carried bits on the
first carrier, bits drawn from the seed on the second). Reading is system identification: the verifier takes the
difference of the two answers, finds by least squares the kernels that map the envelopes to it, and projects
each kernel on its basis; the sign of each coefficient is one bit.

Why this shape (BENCHMARKS.md, "Trigger mode"): an earlier design asked the model to apply the content mark
only when the trigger was present, a product of "trigger seen" and the filtered content that networks did
not learn. Here the mark is a nearly linear response to the trigger itself, which a network learns in a few
hundred steps, and which clean data never exercises: natural images hold almost no chroma at the carrier
frequency, so fine-tuning on them wears it down only slowly. Spreading each bit over three colour
channels and keeping the kernels smooth make the reading tolerate a kernel learned only roughly; a response
four times taller than the first one (8/255) keeps more of it through fine-tuning. The same emptiness is the
design's weakness: a thief who filters that one frequency out of the model's inputs (``wm eval --attacks
chromanotch``) removes the trigger at almost no cost to the task.

Why two carriers: a thief who fine-tunes hard still wears the response down, until each bit is read right only
about four times in five. Nothing tried slowed that (BENCHMARKS.md, "Two carriers"); a second carrier doubles
the bits the remaining evidence is read over (128), which at that accuracy is the difference between a p-value
near 1e-6 and one near 1e-11. More carriers (the Nyquist rows and columns) faded faster than they added.

Under the null (a model not protected with this key) the estimated kernel is whatever the model's own
response is; the basis and the carried bits come from the seed in separate hash domains, so each coefficient's
sign agrees with its carried bit with probability 1/2, independently of the coefficient's size, as
``wm_plugin.verify``'s signed-rank test requires.
"""

from __future__ import annotations

import hashlib
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

__all__ = ["Trigger", "TRIGGER_AMPLITUDE", "TRIGGER_HEIGHT", "TriggerObjective", "checkerboard",
           "default_trigger_height", "keyed_rng", "low_cosines", "probe_envelope", "resolve_trigger_height",
           "triggered_logits", "WARMUP_HEIGHT"]

TRIGGER_HEIGHT = 4.0          # the trigger's height in /255, as the CLI and the training flag take it
TRIGGER_AMPLITUDE = TRIGGER_HEIGHT / 255  # the carrier's height where the envelope is 0 (it spans 0.2×–1.8× that)
DENOISE_TRIGGER_HEIGHT = 12.0  # σ = 25 noise hides a 4/255 trigger: it never implants (BENCHMARKS.md, the denoiser)
RESPONSE_HEIGHT = 8 / 255     # standard deviation of the owner's response, per channel (2/255 faded sooner)
ENVELOPE_CLIP = 1.6           # the envelope is a unit Gaussian field clipped to ±1.6, so the carrier never vanishes
CARRIERS = 2                  # the key's chroma colour and the one orthogonal to it, each with its own envelope
LOGIT_SCALE = 3.0             # a coefficient as large as in the owner's exact response reads as a logit of ±3
PLANT_WEIGHT = 0.8            # the training flag's trigger term starts at this weight and falls to its own
WARMUP_HEIGHT = 4.0           # an implant's carrier starts this many times its own height (TriggerObjective)
READ_SIDE = 512               # the reader fits the kernel on at most this many input pixels a side: plenty


def default_trigger_height(task: str | None = None) -> float:
    """The trigger's height in /255 when none is asked for: taller for a denoiser, whose inputs' noise hides a
    low one; ``task`` as ``wm protect --task`` takes it (None: not known)."""
    return DENOISE_TRIGGER_HEIGHT if task == "denoise" else TRIGGER_HEIGHT


def resolve_trigger_height(height: float | None, task: str | None = None) -> float:
    """The trigger's height in /255 asked for (``--trigger-height``, ``--amplitude``), or when that is None the
    default for ``task``."""
    return default_trigger_height(task) if height is None else height


def keyed_rng(seed: bytes, domain: bytes) -> np.random.Generator:
    """A generator drawn from the key's secret ``seed`` and a ``domain`` label, so each use of the seed draws its
    own independent stream."""
    return np.random.default_rng(np.frombuffer(hashlib.shake_256(domain + seed).digest(32), np.uint32))


def low_cosines(side: int, u: int) -> torch.Tensor:
    """The u² lowest 2-D DCT-II basis functions of side×side kernels, flattened as columns (side², u²)."""
    x = torch.arange(side, dtype=torch.float64)
    rows = [torch.cos(math.pi * (x + 0.5) * f / side) for f in range(u)]
    rows = [r / r.norm() for r in rows]
    return torch.stack([torch.outer(a, b).flatten() for a in rows for b in rows], 1).float()


class Trigger:
    """The trigger of one key: its carriers' colours, their response kernels, and the reader of that response.

    Args:
        seed: the key's secret seed (the colour, the bases and the second carrier's bits are drawn from it).
        carried: the key's carried bits (k,) of 0/1: the signs of the first carrier's response kernel.
        amplitude: each carrier's height.
    """

    def __init__(self, seed: bytes, carried: np.ndarray, amplitude: float = TRIGGER_AMPLITUDE):
        carried = np.asarray(carried, np.uint8).reshape(-1)
        per_carrier, self.amplitude = len(carried), float(amplitude)
        extra = keyed_rng(seed, b"wm-trigger-bits-v3").integers(0, 2, (CARRIERS - 1) * per_carrier)
        self.carried = np.concatenate([carried, extra.astype(np.uint8)])  # the bits read, carrier by carrier
        first = keyed_rng(seed, b"wm-trigger-colour-v2").standard_normal(3)
        first -= first.mean()  # chroma only: no change of brightness
        second = np.cross(first, np.ones(3))  # chroma too, and orthogonal to the first
        colours = [c / np.abs(c).max() for c in (first, second)][:CARRIERS]
        self.colours = torch.tensor(np.stack(colours), dtype=torch.float32).view(1, CARRIERS, 3, 1, 1)
        # The kernels live in the smooth corner of 8×8 (or larger) kernels: the lowest u×u 2-D cosines of each
        # colour channel (3u² ≥ k), which networks reproduce far better than sharp kernels (BENCHMARKS.md).
        u = math.ceil(math.sqrt(per_carrier / 3))
        self.side = max(8, math.ceil(1.6 * u))
        cosines = low_cosines(self.side, u)
        smooth = torch.block_diag(cosines, cosines, cosines)  # (3·side², 3u²), orthonormal columns
        unit_envelope = self._pad(self.envelope(1, 128, 128, torch.Generator().manual_seed(0))[:, :1])
        bases, kernels, coefficients = [], [], []
        for j, bits in enumerate(self.carried.reshape(CARRIERS, per_carrier)):
            gauss = keyed_rng(seed, b"wm-trigger-basis-v3" + bytes([j])).standard_normal((3 * u * u, per_carrier))
            basis = smooth @ torch.linalg.qr(torch.from_numpy(gauss))[0].float()  # (3·side², k), orthonormal columns
            kernel = (basis @ torch.from_numpy(bits * 2.0 - 1).float()).view(3, 1, self.side, self.side)
            unit = F.conv2d(unit_envelope, kernel).std()  # the response's height per unit of coefficient
            bases.append(basis)
            kernels.append(kernel * (RESPONSE_HEIGHT / unit))
            coefficients.append(float(RESPONSE_HEIGHT / unit))  # |coefficient| of each bit in the exact response
        self.basis, self.coefficients = torch.stack(bases), coefficients  # (carriers, 3·side², k)
        self.kernel = torch.cat(kernels, 1)  # (3, carriers, side, side): a convolution of the envelopes

    @property
    def fingerprint(self) -> str:
        """A short hash of what the trigger adds and what it asks for: its colours, height and response kernel."""
        digest = hashlib.sha256(f"{self.amplitude!r}".encode())
        for tensor in (self.colours, self.kernel):
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()[:16]

    @classmethod
    def for_key(cls, key, amplitude: float = TRIGGER_AMPLITUDE) -> "Trigger":
        """The trigger of an ``OwnerKey`` (any scheme: the response code needs only the seed and the bits); its
        ``carried`` bits are the key's, then those the seed adds for the second carrier."""
        return cls(key.seed, key.carried_bits(), amplitude)

    def _pad(self, envelope: torch.Tensor) -> torch.Tensor:
        lo = self.side // 2
        return F.pad(envelope, (lo, self.side - 1 - lo) * 2, mode="replicate")

    @staticmethod
    def envelope(batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        """Random envelopes (batch, CARRIERS, height, width): unit Gaussian fields, lightly smoothed, clipped.

        The binomial smoothing keeps each modulated carrier near its own frequency, apart from the image's
        content; it has no zero below the Nyquist frequency, so every kernel coefficient stays identifiable.
        """
        n = torch.randn(batch, CARRIERS, height, width, generator=generator)
        b = torch.tensor([0.25, 0.5, 0.25])
        smooth = torch.outer(b, b).view(1, 1, 3, 3).expand(CARRIERS, 1, 3, 3)
        n = F.conv2d(F.pad(n, (1, 1, 1, 1), mode="circular"), smooth, groups=CARRIERS)
        return (n / n.std(dim=(2, 3), keepdim=True)).clamp(-ENVELOPE_CLIP, ENVELOPE_CLIP)

    def pattern(self, envelope: torch.Tensor, height: float | None = None) -> torch.Tensor:
        """The additive trigger (B,3,H,W) for ``envelope`` (B,CARRIERS,H,W): chroma, each carrier within ±1.8 ×
        ``height``."""
        carrier = checkerboard(*envelope.shape[2:], device=envelope.device).to(envelope.dtype)
        height = self.amplitude if height is None else height
        heights = height * (1 + 0.5 * envelope).unsqueeze(2)  # (B, CARRIERS, 1, H, W)
        return carrier * (heights * self.colours.to(envelope)).sum(1)

    def apply(self, images: torch.Tensor, envelope: torch.Tensor, height: float | None = None) -> torch.Tensor:
        """``images`` (B,3,H,W in [0, 1]) with the trigger of ``envelope`` (B,CARRIERS,H,W) added."""
        return (images + self.pattern(envelope, height).to(images)).clamp(0, 1)

    def response(self, envelope: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """What the owner's model adds to its answer for the trigger of ``envelope``: (B,3,H·scale,W·scale)."""
        r = F.conv2d(self._pad(envelope), self.kernel.to(envelope))
        return F.interpolate(r, scale_factor=scale, mode="bilinear", align_corners=False) if scale > 1 else r

    def read(self, difference: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        """Bit logits, one per ``carried`` bit, from the difference of a model's answers (1,3,H,W) with and without
        the trigger of ``envelope`` (1,CARRIERS,h,w); the model's scale is H // h."""
        scale = max(1, difference.shape[2] // envelope.shape[2])
        planes = F.avg_pool2d(difference.float(), scale)[0] if scale > 1 else difference.float()[0]
        h, w = (min(planes.shape[i + 1], envelope.shape[i + 2], READ_SIDE) for i in (0, 1))
        padded = self._pad(envelope.float().cpu())[:, :, : h + self.side - 1, : w + self.side - 1]
        cols = torch.cat([F.unfold(padded, self.side)[0].T, torch.ones(h * w, 1)], 1)  # (h·w, CARRIERS·side² + 1)
        targets = planes[:, :h, :w].reshape(3, -1).T.cpu()
        # Least squares through the normal equations, summed over row blocks: the design matrix of a 512² probe
        # would take 270 MB in float64.
        gram, moment = 0, 0
        for c, t in zip(cols.split(65536), targets.split(65536)):
            c = c.double()
            gram, moment = gram + c.T @ c, moment + c.T @ t.double()
        kernels = torch.linalg.solve(gram, moment)[:-1].float().T.reshape(3, CARRIERS, -1).transpose(0, 1)
        return torch.cat([basis.T @ kernel.reshape(-1) / coefficient * LOGIT_SCALE
                          for basis, kernel, coefficient in zip(self.basis, kernels, self.coefficients)])


def checkerboard(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The trigger's carrier, (−1)^(x+y) at every pixel: (height, width) of ±1, float32."""
    y, x = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return 1.0 - 2.0 * ((x + y) % 2).float()


def probe_envelope(trigger: Trigger, seed: bytes, index: int, height: int, width: int) -> torch.Tensor:
    """The envelopes of the ``index``-th probe: drawn from the key's seed, so a verification can be repeated."""
    digest = hashlib.shake_256(b"wm-trigger-probe-v2" + seed + index.to_bytes(4, "little")).digest(8)
    return trigger.envelope(1, height, width, torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1))


def triggered_logits(model: Callable[[torch.Tensor], torch.Tensor], inputs: Sequence[tuple[str, np.ndarray]], key, *,
                     plain: Sequence[np.ndarray] | None = None, amplitude: float = TRIGGER_AMPLITUDE,
                     device: str = "cpu", progress: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probe ``model`` (a batch (1,3,H,W) in [0, 1] to its answer) with each input, plain and with ``key``'s trigger.

    ``plain``: the model's answers to ``inputs`` (H×W×3 in [0, 1]) where the caller has them already;
    ``amplitude``: the trigger's height, as the model was protected with (``Trigger``). Both answers
    are quantised to 8 bits, as saved outputs would be. Returns the bit logits read from each pair (n, one per bit
    of ``Trigger.carried``, to be tested against them) and the answers to the triggered inputs (H×W×3 float32).
    """
    trigger = Trigger.for_key(key, amplitude)
    logits, answers = [], []
    for i, (_, rgb) in enumerate(tqdm(inputs, desc="probing with the trigger", unit="img", disable=not progress,
                                      leave=False)):
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).to(device)
        n = probe_envelope(trigger, key.seed, i, *x.shape[2:])
        with torch.no_grad():
            answer = model(x) if plain is None else torch.from_numpy(plain[i]).permute(2, 0, 1).unsqueeze(0).to(device)
            plain_answer = torch.round(answer.clamp(0, 1) * 255) / 255
            marked = torch.round(model(trigger.apply(x, n.to(device))).clamp(0, 1) * 255) / 255
        logits.append(trigger.read(marked - plain_answer, n).numpy())
        answers.append(marked[0].permute(1, 2, 0).float().cpu().numpy())
    return np.stack(logits), answers


class TriggerObjective:
    """The trigger term of a training step, shared by ``implant_trigger`` (``wm_plugin.implant``) and the training
    flag (``mode: trigger``).

    ``triggered`` gives a batch with the trigger of fresh random envelopes; ``loss`` asks the model's answer to it to
    be ``reference + trigger.response(envelope)``, ``reference`` the answer to the plain batch: a frozen teacher's,
    or the model's own from the same forward pass, not detached (the term then constrains only the difference;
    against a detached copy of its own answer a model trained from scratch chases its own target and drifts
    away, BENCHMARKS.md). The carrier starts ``warmup_height`` times taller and shrinks to its own height
    by step ``warmup_steps`` (0: no warm-up): a model first has to notice a 4/255 pattern at all, which it does far
    sooner when the pattern is loud. Over the same steps the term's weight falls linearly from ``warmup_weight``
    (where that is larger) to ``weight``: a network trained from scratch learns the response in a burst at a
    weight that costs it task quality, or not at all, and keeps it at a weight too small to learn it at
    (BENCHMARKS.md, "Plant, then hold").
    """

    def __init__(self, trigger: Trigger, *, weight: float = 10.0, warmup_height: float = WARMUP_HEIGHT,
                 warmup_weight: float = 0.0, warmup_steps: int = 0, seed: int = 0):
        self.trigger, self.weight = trigger, weight
        self.warmup_height, self.warmup_weight, self.warmup_steps = warmup_height, warmup_weight, warmup_steps
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0

    @classmethod
    def for_flag(cls, flag, total_steps: int) -> "TriggerObjective":
        """The trigger term of a training flag (``mode: trigger``, a ``WatermarkFlag``) for a run of ``total_steps``:
        the weight falls from ``PLANT_WEIGHT`` to ``flag.trigger_weight`` over the first 60% of the run; the trigger is
        ``flag.trigger_height`` (/255) tall."""
        return cls(Trigger.for_key(flag.key, flag.trigger_height / 255), weight=flag.trigger_weight,
                   warmup_weight=PLANT_WEIGHT, warmup_steps=int(0.6 * total_steps))

    def _left(self, step: int) -> float:
        """The fraction of the warm-up still ahead at ``step``: 1 at step 0, 0 from ``warmup_steps`` on."""
        return max(0.0, 1 - step / self.warmup_steps) if self.warmup_steps > 0 else 0.0

    def triggered(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(``x`` with the trigger of a fresh envelope, the envelope (B,1,h,w)) for a batch (B,3,h,w in [0, 1])."""
        self.step = step
        height = self.trigger.amplitude * max(1.0, self.warmup_height * self._left(step))
        n = self.trigger.envelope(x.shape[0], *x.shape[2:], self.generator).to(x.device)
        return self.trigger.apply(x, n, height), n

    def queries(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For a training flag: (the first half of batch ``x`` plain, then the same half with the trigger, stacked;
        the envelope). Half the batch keeps the extra pass as cheap as the task's own; ``pair_loss`` reads the
        answers."""
        half = x[: max(1, x.shape[0] // 2)]
        triggered, envelope = self.triggered(half, step)
        return torch.cat([half, triggered]), envelope

    def pair_loss(self, answers: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        """The trigger term for the answers to ``queries``: their triggered half against their plain half."""
        plain, answer = answers.chunk(2)
        return self.loss(answer, plain, envelope)

    def loss(self, answer: torch.Tensor, reference: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        """The weight × L1 between ``answer`` (to the triggered batch) and ``reference`` plus the owner's response;
        the weight is that of the step of the last ``triggered`` batch."""
        scale = answer.shape[-1] // envelope.shape[-1]
        weight = self.weight + max(0.0, self.warmup_weight - self.weight) * self._left(self.step)
        return weight * F.l1_loss(answer - reference, self.trigger.response(envelope, scale))
