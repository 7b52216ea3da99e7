"""Stage 1: train the embedder H, extractor R and discriminator D together for k-bit messages.

The recipe answers the traps of DESIGN.md's first experiment:

* random messages per image, never a fixed code, and a *clean loss* that drives R's logits on unmarked
  images to zero, so R cannot read a constant "mark" everywhere;
* the residual has a fixed RMS set by a target PSNR (see ``embedder.py``): it cannot collapse or blow up;
  the fidelity losses (SSIM, adversarial) only decide *where* its energy goes;
* a gentle start: a strong mark (low PSNR) and no distortions first; the PSNR target, the distortions and
  the fidelity losses are ramped in once R reads the mark;
* bit accuracy on marked *and* on clean images is logged as training goes.

Under ``torchrun`` the run is data-parallel (``distributed.py``): each copy draws its own batches of
``batch`` images and the gradients are averaged, so a step sees ``batch`` × copies images.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tqdm import tqdm

from ..checkpoint import save_checkpoint
from ..codec import resize, rms
from ..errors import ConfigError
from ..fileio import write_text_atomic
from ..metrics import psnr, ssim
from ..nets import create_net, load_net, save_net
from ..nets.weights import read_net_metadata
from . import distributed as ddp
from .augment import jpeg, quantize8, random_distortion
from .data import TrainingImages

__all__ = ["Stage1Config", "train_stage1", "embed_batch"]


@dataclasses.dataclass(frozen=True)
class Stage1Config:
    """Everything that defines a stage-1 run; saved beside its checkpoints."""

    out: str
    bits: int = 64
    size: int = 256
    embedder: str = "embedder_256"
    extractor: str = "extractor_256"
    discriminator: str = "patch_discriminator"
    extractor_backbone: str | None = None  # a timm model name: R on that backbone instead of ``extractor``
    discriminator_backbone: str | None = None  # the same for D
    steps: int = 4500
    batch: int = 12
    lr: float = 1e-3
    psnr_start: float = 30.0
    psnr_range: tuple[float, float] = (40.0, 44.0)
    ssim_weight: float = 20.0
    adv_weight: float = 0.01
    clean_weight: float = 1.0
    grey_share: float = 0.1
    large_share: float = 0.5  # share of images treated as 1.5-4× larger than the working resolution
    detail_floor: float | None = 0.04  # the embedder's detail gain (see ``embedder.py``); None: off
    # Passes of the embedder's blur on the residual's chroma (``embedder.py``). The shipped weights were trained
    # without it and given it afterwards (``benchmarks/embedder_settings.py``): trained with it inside, v8 did
    # worse on held-out photos (BENCHMARKS.md, "Chroma smoothing").
    chroma_smoothing: int = 0
    init: str | None = None  # a weights folder (embedder/extractor.safetensors) to fine-tune from
    # A private pair: the extractor of this weights folder (usually the public one) must not read the new
    # marks, neither the bits nor their inverse.
    escape: str | None = None
    escape_weight: float = 1.0
    # Curriculum, as fractions of ``steps``: (start, end) of each linear ramp from 0 to 1.
    psnr_ramp: tuple[float, float] = (0.0, 0.3)
    attack_ramp: tuple[float, float] = (0.05, 0.4)
    fidelity_ramp: tuple[float, float] = (0.1, 0.3)
    data: tuple[str, ...] = ()
    procedural: int = 1024
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50
    checkpoint_every: int = 250
    workers: int = 1

    @classmethod
    def fine_tune(cls, init: str, **fields) -> "Stage1Config":
        """A run that continues trained weights in ``init``: no curriculum (every ramp at full from step 0), lr 3e-4,
        ``init``'s message length and working resolution, and its embedder's settings (detail floor, chroma
        smoothing) unless given.

        Raises:
            ConfigError: ``fields`` ask for another message length or resolution than ``init``'s networks have.
        """
        full = (0.0, 0.0)
        embedder = json.loads(read_net_metadata(Path(init) / "embedder.safetensors")["config"])
        for name, unit in (("bits", " bits"), ("size", "px")):
            if name in embedder and fields.get(name, embedder[name]) != embedder[name]:
                raise ConfigError(f"{init}: its networks are {embedder[name]}{unit}, not {fields[name]}{unit}; "
                                  f"fine-tuning keeps them (leave out --{name})")
        kept = {k: embedder[k] for k in ("bits", "size", "detail_floor", "chroma_smoothing") if k in embedder}
        ramps = {"psnr_ramp": full, "attack_ramp": full, "fidelity_ramp": full}
        return cls(init=init, **{"lr": 3e-4, **ramps, **kept, **fields})

    def ramp(self, step: int, fractions: tuple[float, float]) -> float:
        """0 before ``fractions[0]``·steps, 1 after ``fractions[1]``·steps, linear between."""
        a, b = fractions[0] * self.steps, fractions[1] * self.steps
        return min(max((step - a) / max(b - a, 1), 0.0), 1.0)


def embed_batch(embedder, images: torch.Tensor, bits: torch.Tensor, target_psnr: torch.Tensor, grey: torch.Tensor,
                enlarge: torch.Tensor | None = None) -> torch.Tensor:
    """Marked images (not yet clamped), as the extractor will see them at the working resolution.

    Mirrors ``WatermarkCodec._marked``: grey images get a grey residual, the detail gain is applied at the
    size of the image the residual is added to, and the residual is scaled to the target PSNR there.
    ``enlarge`` (per image, ≥ 1) simulates an image that many times larger: the residual is enlarged (with
    the image, for the detail gain), scaled there, and shrunk back for the extractor.
    """
    residual = embedder(images, bits)
    residual = torch.where(grey.view(-1, 1, 1, 1), residual.mean(dim=1, keepdim=True).expand_as(residual), residual)
    size = images.shape[-1]
    out = []
    factors = enlarge.tolist() if enlarge is not None else [1.0] * len(images)
    for r, img, f in zip(residual.split(1), images.split(1), factors):
        big_size = (round(size * f),) * 2
        big, big_img = (resize(r, big_size), resize(img, big_size)) if f > 1 else (r, img)
        gain = embedder.detail_gain(big_img)
        if gain is not None:
            big = big * gain
        out.append((resize(big, (size, size)) if f > 1 else big) / rms(big))
    scale = 10 ** (-target_psnr / 20)
    return images + scale.view(-1, 1, 1, 1) * torch.cat(out)


def _make_grey(images: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    return torch.where(grey.view(-1, 1, 1, 1), images.mean(dim=1, keepdim=True).expand_as(images), images)


class _Run:
    """The state of one training run: networks, optimizers, data, step; saved and restored as a whole."""

    def __init__(self, cfg: Stage1Config):
        self.cfg = cfg
        self.dev = torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.H = create_net(cfg.embedder, bits=cfg.bits, size=cfg.size, detail_floor=cfg.detail_floor,
                            chroma_smoothing=cfg.chroma_smoothing).to(self.dev)
        self.r_name = "timm_extractor" if cfg.extractor_backbone else cfg.extractor
        self.R = create_net(self.r_name, bits=cfg.bits, size=cfg.size, backbone=cfg.extractor_backbone).to(self.dev)
        if cfg.init:
            for net, name in ((self.H, "embedder"), (self.R, "extractor")):
                net.load_state_dict(load_file(str(Path(cfg.init) / f"{name}.safetensors")))
        d_name = "timm_discriminator" if cfg.discriminator_backbone else cfg.discriminator
        self.D = create_net(d_name, backbone=cfg.discriminator_backbone).to(self.dev)
        self.public_R = None
        if cfg.escape:
            self.public_R = load_net(Path(cfg.escape) / "extractor.safetensors").to(self.dev).requires_grad_(False)
            if (self.public_R.bits, self.public_R.size) != (cfg.bits, cfg.size):
                raise ConfigError(f"{cfg.escape}: its extractor reads {self.public_R.bits} bits at "
                                  f"{self.public_R.size}px, this run trains {cfg.bits} at {cfg.size}px")
        for net in (self.H, self.R, self.D):
            net.to(memory_format=torch.channels_last)
            ddp.broadcast_parameters(net)
        self.rank = ddp.rank()
        if self.rank:  # each copy its own distortions and batches; rank 0 keeps the single-process streams
            torch.manual_seed(cfg.seed + 1000 * self.rank)
        self.opt_g = torch.optim.Adam([*self.H.parameters(), *self.R.parameters()], lr=cfg.lr)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr * 0.2, betas=(0.5, 0.999))
        self.step = 0
        self.g, self.rng = torch.Generator(), random.Random()
        self._seed_streams()
        with ddp.main_first():  # rank 0 draws and caches the procedural images, the others read the cache
            self.images = TrainingImages(cfg.size, procedural=cfg.procedural, folders=cfg.data, seed=cfg.seed,
                                         cache_dir=Path(cfg.out) / "cache", workers=cfg.workers)
        vg = torch.Generator().manual_seed(10_000 + cfg.seed)
        self.val_images = self.images.batch(32, vg)
        self.val_bits = torch.randint(0, 2, (32, cfg.bits), generator=vg)

    # -- persistence -------------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a resume needs; under ``torchrun`` every copy must call it (it gathers their RNG states)."""
        streams = {"generator": self.g.get_state(), "rng": self.rng.getstate(), "torch_rng": torch.get_rng_state()}
        checksum = float(sum(p.detach().double().sum() for p in (*self.H.parameters(), *self.R.parameters())))
        replicas = ddp.gather_objects({**streams, "checksum": checksum})
        state = {
            "config": dataclasses.asdict(self.cfg),
            "step": self.step,
            "H": self.H.state_dict(), "R": self.R.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            **streams,
        }
        if len(replicas) > 1:  # the copies' own streams, and a check that they hold the same weights
            state["replicas"] = replicas
        return state

    def load(self, state: dict) -> None:
        self.step = state["step"]
        for name in ("H", "R", "D"):
            getattr(self, name).load_state_dict(state[name])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        replicas = state.get("replicas", [state])
        if self.rank < len(replicas):
            streams = replicas[self.rank]
            self.g.set_state(streams["generator"])
            self.rng.setstate(streams["rng"])
            torch.set_rng_state(streams["torch_rng"])
        else:  # more copies than the run was saved with: fresh streams for the new ones
            self._seed_streams(self.step)

    def _seed_streams(self, offset: int = 0) -> None:
        """Seed this copy's batch and distortion streams (rank 0 without ``offset``: the single-process ones)."""
        base = self.cfg.seed + 1000 * self.rank + offset
        self.g.manual_seed(base + 1)
        self.rng.seed(base + 2)

    # -- one step ----------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Constant, then cosine decay over the last 40% of the run."""
        t = max(0.0, (step / self.cfg.steps - 0.6) / 0.4)
        return self.cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    def train_step(self) -> dict:
        cfg, dev = self.cfg, self.dev
        n = cfg.batch
        x = self.images.batch(n, self.g).to(dev).contiguous(memory_format=torch.channels_last)
        grey = torch.rand(n, generator=self.g) < cfg.grey_share
        x = _make_grey(x, grey.to(dev))
        bits = torch.randint(0, 2, (n, cfg.bits), generator=self.g).to(dev)
        lo, hi = cfg.psnr_range
        final = lo + torch.rand(n, generator=self.g) * (hi - lo)
        warm = cfg.ramp(self.step, cfg.psnr_ramp)
        target = (cfg.psnr_start + warm * (final - cfg.psnr_start)).to(dev)
        attack = cfg.ramp(self.step, cfg.attack_ramp)
        fid = cfg.ramp(self.step, cfg.fidelity_ramp)
        for group in self.opt_g.param_groups:
            group["lr"] = self.lr_at(self.step)

        large = torch.rand(n, generator=self.g) < cfg.large_share
        enlarge = torch.where(large, 1.5 + 2.5 * torch.rand(n, generator=self.g), torch.ones(n))
        marked = embed_batch(self.H, x, bits, target, grey.to(dev), enlarge)
        stored = quantize8(marked)
        seen = random_distortion(stored, self.rng, attack) if attack > 0 else stored
        logits = self.R(seen)
        loss_msg = F.binary_cross_entropy_with_logits(logits, bits.float())
        half = x[: n // 2]
        clean_seen = random_distortion(half, self.rng, attack) if attack > 0 else quantize8(half)
        clean_logits = self.R(clean_seen)
        loss_clean = F.binary_cross_entropy_with_logits(clean_logits, torch.full_like(clean_logits, 0.5))
        loss_ssim = (1 - ssim(stored, x)).mean()
        loss_adv = (self.D(stored) - 1).pow(2).mean()
        loss_fidelity = cfg.ssim_weight * loss_ssim + cfg.adv_weight * loss_adv
        loss = loss_msg + cfg.clean_weight * loss_clean + fid * loss_fidelity
        public_acc = loss_escape = None
        if self.public_R is not None:
            # The public reader must see a marked image as it sees the same image clean: then it reads the
            # owner's bits at chance. (Asking only for small logits let H make them small but of the wrong
            # sign: 0.11 bit accuracy, the inverse of the bits, which is a reading too.) Relative to the
            # logits' own size, so that the term neither swamps the others at the start nor fades later.
            public_logits = self.public_R(stored)
            with torch.no_grad():
                unmarked = self.public_R(quantize8(x))
            loss_escape = F.mse_loss(public_logits, unmarked) / public_logits.detach().square().mean().clamp_min(1e-6)
            loss = loss + cfg.escape_weight * loss_escape
            public_acc = ((public_logits.detach() > 0) == bits.bool()).float().mean().item()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_gradients([*self.H.parameters(), *self.R.parameters()])
        self.opt_g.step()

        loss_d = torch.zeros(())
        if fid > 0:
            loss_d = (self.D(x) - 1).pow(2).mean() + self.D(stored.detach()).pow(2).mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            ddp.average_gradients(self.D.parameters())
            self.opt_d.step()
        self.step += 1
        with torch.no_grad():
            acc = ((logits > 0) == bits.bool()).float().mean().item()
            clean_acc = ((clean_logits > 0) == bits[: n // 2].bool()).float().mean().item()
        return {
            "loss": loss.item(), "msg": loss_msg.item(), "clean": loss_clean.item(), "ssim_loss": loss_ssim.item(),
            "adv": loss_adv.item(), "d": loss_d.item(), "acc_seen": acc, "acc_clean": clean_acc,
            "clean_abs_logit": clean_logits.abs().mean().item(), "psnr": psnr(stored, x).mean().item(),
            "attack": attack, "fidelity": fid,
            **({"escape": loss_escape.item(), "acc_public": public_acc} if public_acc is not None else {}),
        }

    @torch.no_grad()
    def calibrated_extractor(self, n: int = 1024):
        """A copy of R whose logits have, per bit, median zero on ``n`` clean training images.

        The clean loss pulls clean logits towards zero but leaves small per-bit offsets, so a bit could read
        1 on most clean images; centring makes each bit read 1 on half of them, which keeps the p-values of
        one fixed key honest over many clean images (over random keys they are exact regardless).
        """
        g = torch.Generator().manual_seed(20_000 + self.cfg.seed)
        extractor = copy.deepcopy(self.R).eval()
        logits = torch.cat([extractor(quantize8(self.images.batch(64, g).to(self.dev))) for _ in range(n // 64)])
        return extractor.center_logits_(logits.median(dim=0).values)

    @torch.no_grad()
    def validate(self, target_psnr: float = 42.5, extractor=None) -> dict:
        """Bit accuracy on the fixed validation batch: plain, after JPEG 90 and 50, as part of a 3× larger
        image, and on clean images (where it should be 0.5). ``extractor`` defaults to the one training."""
        R = extractor or self.R
        self.H.eval(), R.eval()
        x, bits = self.val_images.to(self.dev), self.val_bits.to(self.dev)
        n = len(x)
        psnr_n = torch.full((n,), target_psnr, device=self.dev)
        colour = torch.zeros(n, dtype=torch.bool, device=self.dev)
        marked = quantize8(embed_batch(self.H, x, bits, psnr_n, colour))
        large = quantize8(embed_batch(self.H, x, bits, psnr_n, colour, torch.full((n,), 3.0)))

        def acc(img: torch.Tensor) -> float:
            return ((R(img) > 0) == bits.bool()).float().mean().item()

        out = {
            "val_acc": acc(marked), "val_acc_jpeg90": acc(jpeg(marked, 90)), "val_acc_jpeg50": acc(jpeg(marked, 50)),
            "val_acc_large": acc(large), "val_acc_clean": acc(quantize8(x)), "val_psnr": psnr(marked, x).mean().item(),
            "val_ssim": ssim(marked, x).mean().item(),
        }
        if self.public_R is not None:  # should fall to chance: the public extractor must not read the new marks
            out["val_acc_public"] = ((self.public_R(marked) > 0) == bits.bool()).float().mean().item()
        self.H.train(), self.R.train()
        return out


def _export(run: _Run, out: Path, figures: dict, *, extractor=None) -> None:
    cfg = run.cfg
    extra = {"steps": run.step, "recipe": "wm_plugin.train.stage1", "figures": json.dumps(figures, sort_keys=True),
             "calibrated": str(extractor is not None)}
    save_net(run.H, out / "embedder.safetensors", name=cfg.embedder, config=run.H.config, extra=extra)
    save_net(extractor or run.R, out / "extractor.safetensors", name=run.r_name, config=run.R.config, extra=extra)


def train_stage1(cfg: Stage1Config, *, resume: bool = False, until: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) stage 1 and write ``embedder.safetensors`` / ``extractor.safetensors`` to ``cfg.out``.

    Writes ``checkpoint.pt`` every ``checkpoint_every`` steps and a JSON line per ``log_every`` steps to
    ``log.jsonl``. ``until`` stops early at that step (checkpointed), so a long run can be split into
    chunks that each resume the last. A finished run exports a calibrated extractor (see
    ``calibrated_extractor``); resuming a finished run redoes only that. Under ``torchrun`` the copies train
    together and rank 0 alone writes. Returns the last validation figures (rank 0; ``{}`` on the others).
    """
    joined = ddp.init_from_env(cfg.device)
    main = ddp.is_main()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(cfg)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        run.load(torch.load(ckpt, map_location=run.dev, weights_only=True))
    if main:
        write_text_atomic(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    log = open(out / "log.jsonl", "a") if main else None
    started = time.time()
    figures: dict = {}
    stop = min(cfg.steps, until) if until is not None else cfg.steps
    bar = tqdm(total=cfg.steps, initial=run.step, disable=not (progress and main), desc="stage 1", unit="step")
    try:
        while run.step < stop:
            stats = run.train_step()
            bar.update(1)
            if main and (run.step % cfg.log_every == 0 or run.step == cfg.steps):
                stats.update(step=run.step, seconds=round(time.time() - started, 1))
                if run.step % (cfg.log_every * 10) == 0 or run.step == cfg.steps:
                    figures = run.validate()
                    stats.update(figures)
                bar.set_postfix(acc=f"{stats['acc_seen']:.3f}", clean=f"{stats['acc_clean']:.2f}",
                                psnr=f"{stats['psnr']:.1f}")
                log.write(json.dumps(stats) + "\n")
                log.flush()
            if run.step % cfg.checkpoint_every == 0 or run.step == stop:
                state = run.state()  # every copy: it gathers their RNG streams
                if main:
                    save_checkpoint(state, ckpt)
                    _export(run, out, figures)
        if main and run.step == cfg.steps:  # finished (now, or before this resume): export the calibrated extractor
            extractor = run.calibrated_extractor()
            figures = run.validate(extractor=extractor)
            log.write(json.dumps({"step": run.step, "calibrated": True, **figures}) + "\n")
            _export(run, out, figures, extractor=extractor)
    finally:
        bar.close()
        if log:
            log.close()
        if joined:
            ddp.shutdown()
    return figures
