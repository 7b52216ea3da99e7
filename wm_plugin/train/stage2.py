"""Stage 2: teach the extractor R to read the mark from the outputs of surrogate models.

The seed paper's adversarial stage (Zhang et al., AAAI 2020, section 3.3). A thief trains a surrogate on a
protected model's answers; the surrogate reproduces the mark only in part, distorted by its own
architecture and loss, and a stage-1 R reads that faint copy weakly. Stage 2 trains surrogates itself and
fine-tunes R on what they output (H stays as it is, so marks already made keep their meaning):

* the victim is an ideal restorer of the task that marks its answers: for a clean image c, the input is
  ``degrade(c)`` and the answer is ``H(c)`` with a random message of its own per surrogate, so R learns
  the surrogates' distortion of the mark and not one message;
* each marked surrogate has a clean twin, the same architecture trained on the same crops with the clean
  images as answers. R reads the message from the difference between the two outputs for one input and
  answers "no mark" (logits at zero) on the twin's, so it learns what the surrogate kept of the mark and
  not "this looks like a U-Net's output"; where the twins' outputs do not differ, R learns nothing;
* R keeps reading direct marks (fresh random messages through H) and answers "no mark" on clean images.

The surrogates are the expensive part: each is saved under ``out/surrogates/`` once trained and reused
by a resumed run. R's fine-tuning is checkpointed like stage 1.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..attacks.surrogate import SURROGATE_ARCHS, SURROGATE_LOSSES, build_surrogate, fit_surrogate
from ..attacks.tasks import check_task, degrade
from ..checkpoint import save_checkpoint
from ..codec import DEFAULT_PSNR, add_mark, default_weights_dir, resize
from ..crops import RandomCrops
from ..errors import ConfigError
from ..fileio import atomic_path, write_text_atomic
from ..nets import load_net, save_net
from ..nets.weights import read_net_metadata
from ..verify import verdict
from .augment import quantize8, random_distortion
from .data import TrainingImages

__all__ = ["Stage2Config", "train_stage2"]

_STAGE2_LOSSES = tuple(loss for loss in SURROGATE_LOSSES if loss != "perceptual")  # that one needs VGG weights


@dataclasses.dataclass(frozen=True)
class Stage2Config:
    """Everything that defines a stage-2 run; saved beside its checkpoints."""

    out: str
    init: str | None = None  # the weights folder (embedder + extractor) to start from; None: the shipped one
    task: str = "denoise"
    scale: int = 1
    archs: tuple[str, ...] = ("unet", "resnet9")  # one marked surrogate and its clean twin per arch
    loss: str = "l1"
    surrogate_steps: int = 1000
    surrogate_lr: float = 5e-4
    crop: int = 64  # the surrogates' training crops (output side)
    images: int = 96  # clean images in the pool; a quarter is held out for validation
    size: int = 192  # their side
    steps: int = 600  # R's fine-tuning
    batch: int = 12
    lr: float = 1e-4
    psnr: float = DEFAULT_PSNR  # the victim's mark strength
    attack: float = 0.5  # strength of the random distortions R sees (``random_distortion``)
    direct_weight: float = 0.5
    clean_weight: float = 1.0
    data: tuple[str, ...] = ()
    procedural: int = 256
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50
    checkpoint_every: int = 200

    def __post_init__(self):
        try:
            check_task(self.task, self.scale)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.crop % self.scale or self.size % self.scale:
            raise ConfigError(f"crop ({self.crop}) and size ({self.size}) must be multiples of the scale "
                              f"({self.scale})")
        if self.images < 8:
            raise ConfigError(f"stage 2 needs at least 8 clean images, got {self.images}")
        if not self.archs:
            raise ConfigError("stage 2 needs at least one surrogate architecture")
        if self.loss not in _STAGE2_LOSSES:
            raise ConfigError(f"unknown surrogate loss {self.loss!r} for stage 2; known: {', '.join(_STAGE2_LOSSES)}")
        for arch in self.archs:  # an unknown arch fails here, before hours of training
            if arch not in SURROGATE_ARCHS:
                raise ConfigError(f"unknown surrogate arch {arch!r}; known: {', '.join(SURROGATE_ARCHS)}")


class _Pool:
    """The clean images and every surrogate's outputs on them, split into training and held-out images."""

    def __init__(self, clean: torch.Tensor, held_out: int):
        self.clean = clean
        self.outputs: dict[str, torch.Tensor] = {}
        self.train = slice(0, len(clean) - held_out)
        self.val = slice(len(clean) - held_out, len(clean))


def _mark(H, clean: torch.Tensor, bits: torch.Tensor, psnr: float) -> torch.Tensor:
    """``clean`` (n,3,h,w) marked as the codec marks an image (``add_mark``), one message per image, at
    ``psnr``, rounded to 8 bits."""
    with torch.no_grad():
        out = [add_mark(H, x, H.message_patterns(b), psnr) for x, b in zip(clean.split(16), bits.split(16))]
    return quantize8(torch.cat(out))  # clamped and rounded


def _answers(net, clean: torch.Tensor, task: str, scale: int, seed: int, device: torch.device) -> torch.Tensor:
    """A surrogate's 8-bit outputs for the degraded ``clean`` images (the same degradations for every surrogate)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = [net(degrade(x, task, scale=scale, generator=g).to(device)).cpu() for x in clean.split(8)]
    return quantize8(torch.cat(out))


# What the saved surrogates and the pool depend on: a run folder reused with other values would mix them up.
_SURROGATE_FIELDS = ("init", "task", "scale", "loss", "surrogate_steps", "surrogate_lr", "crop", "images", "size",
                     "psnr", "data", "procedural", "seed")


def _check_reuse(out: Path, cfg: Stage2Config) -> None:
    """Raise ``ConfigError`` if ``out`` holds a run whose surrogates were made with other settings."""
    saved = out / "config.json"
    if not saved.exists():
        return
    before = json.loads(saved.read_text())
    now = json.loads(json.dumps(dataclasses.asdict(cfg)))  # tuples as lists, as saved
    changed = [f for f in _SURROGATE_FIELDS if before.get(f) != now[f]]
    if changed:
        raise ConfigError(f"{out} holds a stage-2 run made with another {changed[0]} ({before.get(changed[0])!r}, "
                          f"now {now[changed[0]]!r}); its surrogates would not fit: use a new --out")


class _Run:
    """The state of one stage-2 run: H (frozen), R and its optimizer, the pool, the surrogates' outputs."""

    def __init__(self, cfg: Stage2Config):
        self.cfg = cfg
        self.dev = torch.device(cfg.device)
        self.out = Path(cfg.out)
        self.weights = Path(cfg.init) if cfg.init else default_weights_dir()
        self.H = load_net(self.weights / "embedder.safetensors").to(self.dev).requires_grad_(False)
        self.R = load_net(self.weights / "extractor.safetensors").to(self.dev)
        self.R0 = copy.deepcopy(self.R).requires_grad_(False)  # the starting reader, for "before"
        if (self.H.bits, self.H.size) != (self.R.bits, self.R.size):
            raise ConfigError(f"{self.weights}: embedder and extractor do not fit each other")
        g = torch.Generator().manual_seed(cfg.seed)
        images = TrainingImages(cfg.size, procedural=cfg.procedural, folders=cfg.data, seed=cfg.seed,
                                cache_dir=self.out / "cache")
        self.pool = _Pool(images.batch(cfg.images, g), held_out=cfg.images // 4)
        self.messages = torch.randint(0, 2, (len(cfg.archs), self.R.bits), generator=g)
        self.opt = torch.optim.Adam(self.R.parameters(), lr=cfg.lr)
        self.step = 0
        self.g, self.rng = torch.Generator().manual_seed(cfg.seed + 1), random.Random(cfg.seed + 2)

    # -- the surrogates --------------------------------------------------------------------------
    def train_surrogates(self, progress: bool) -> None:
        """Train (or load, when saved by an earlier run) every surrogate and record its outputs on the pool."""
        cfg, pool = self.cfg, self.pool
        clean = pool.clean[pool.train]
        folder = self.out / "surrogates"
        folder.mkdir(parents=True, exist_ok=True)
        for i, arch in enumerate(cfg.archs):
            for kind in ("marked", "clean"):
                name = f"{arch}-{kind}"
                path = folder / f"{name}.safetensors"
                if path.exists():
                    net = build_surrogate(arch, cfg.scale).to(self.dev)
                    net.load_state_dict(load_file(str(path)))
                else:
                    answers = (_mark(self.H, clean.to(self.dev), self.messages[i].expand(len(clean), -1).to(self.dev),
                                     cfg.psnr).cpu() if kind == "marked" else quantize8(clean))
                    net = self._fit(arch, clean, answers, seed=cfg.seed + 100 * i, progress=progress)
                    with atomic_path(path) as tmp:
                        save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}, tmp)
                pool.outputs[name] = _answers(net.eval(), pool.clean, cfg.task, cfg.scale, cfg.seed + 7, self.dev)

    def _fit(self, arch: str, clean: torch.Tensor, answers: torch.Tensor, *, seed: int, progress: bool):
        """A surrogate of ``arch`` trained on (degraded crop of ``clean``, the same crop of ``answers``)."""
        cfg = self.cfg
        both = torch.cat([clean, answers], dim=1).permute(0, 2, 3, 1).numpy()  # crop the pair together
        crops = RandomCrops(list(both), cfg.crop, 8, seed)

        def pairs():
            crop = crops.next()
            inputs = degrade(crop[:, :3], cfg.task, scale=cfg.scale, generator=crops.generator)
            return inputs.to(self.dev), crop[:, 3:].to(self.dev)

        return fit_surrogate(pairs, arch=arch, loss=cfg.loss, scale=cfg.scale, steps=cfg.surrogate_steps,
                             lr=cfg.surrogate_lr, seed=seed, device=self.dev, progress=progress)

    # -- R's fine-tuning -------------------------------------------------------------------------
    def _read(self, R, images: torch.Tensor) -> torch.Tensor:
        return R(resize(images.to(self.dev), (R.size, R.size)))

    def _distort_alike(self, *batches: torch.Tensor) -> list[torch.Tensor]:
        """The same random distortion for the same image of each batch (the twins' outputs stay comparable)."""
        state, out = self.rng.getstate(), []
        for batch in batches:
            self.rng.setstate(state)
            out.append(random_distortion(batch, self.rng, self.cfg.attack))
        return out

    def train_step(self) -> dict:
        cfg, pool, g = self.cfg, self.pool, self.g
        n, first, last = cfg.batch, pool.train.start, pool.train.stop
        # A marked surrogate's outputs and its clean twin's, on the same images. R is asked to read the
        # message from their *difference* and to answer "no mark" on the twin: asking it to read the message
        # from the marked outputs alone would teach it to read the message wherever they look like the
        # twin's, i.e. from any output of that architecture (it did: 0.88 on the clean twin in a trial).
        which = torch.randint(len(cfg.archs), (n,), generator=g)
        index = torch.randint(first, last, (n,), generator=g)
        pick = list(zip(which.tolist(), index.tolist()))
        marked = torch.stack([pool.outputs[f"{cfg.archs[w]}-marked"][i] for w, i in pick])
        twins = torch.stack([pool.outputs[f"{cfg.archs[w]}-clean"][i] for w, i in pick])
        marked, twins = self._distort_alike(marked, twins)
        twin_logits = self._read(self.R, twins)
        bits = self.messages[which].to(self.dev).float()
        loss_sur = F.binary_cross_entropy_with_logits(self._read(self.R, marked) - twin_logits, bits)
        # Direct marks, fresh messages: R stays a reader of any key.
        half = n // 2
        direct_bits = torch.randint(0, 2, (half, self.R.bits), generator=g)
        clean = pool.clean[torch.randint(first, last, (half,), generator=g)]
        direct = _mark(self.H, clean.to(self.dev), direct_bits.to(self.dev), cfg.psnr)
        loss_direct = F.binary_cross_entropy_with_logits(
            self._read(self.R, random_distortion(direct, self.rng, cfg.attack)), direct_bits.float().to(self.dev))
        # No mark: the twins' outputs and clean images.
        clean_read = self._read(self.R, random_distortion(quantize8(clean), self.rng, cfg.attack))
        clean_logits = torch.cat([twin_logits, clean_read])
        loss_clean = F.binary_cross_entropy_with_logits(clean_logits, torch.full_like(clean_logits, 0.5))
        loss = loss_sur + cfg.direct_weight * loss_direct + cfg.clean_weight * loss_clean
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss": loss.item(), "surrogate": loss_sur.item(), "direct": loss_direct.item(),
                "clean": loss_clean.item()}

    @torch.no_grad()
    def validate(self, R=None) -> dict:
        """On the held-out images: per surrogate, the bit accuracy of its outputs against its message (a clean
        twin against its marked twin's) and the p-value of the folder's combined test; direct marks; clean.

        A marked surrogate's entry also says how much of the mark it kept, whatever R makes of it:
        ``mark_kept``, the mean cosine between the difference of the twins' outputs and the mark the victim
        put on the same image (1: all of it; 0: nothing that lines up with it)."""
        R = (R or self.R).eval()
        cfg, pool = self.cfg, self.pool
        clean = pool.clean[pool.val]
        out: dict = {}
        for i, arch in enumerate(cfg.archs):
            carried = self.messages[i].numpy().astype(np.uint8)
            for kind in ("marked", "clean"):
                logits = self._read(R, pool.outputs[f"{arch}-{kind}"][pool.val]).cpu().numpy()
                v = verdict([str(j) for j in range(len(logits))], logits, carried)
                out[f"{arch}-{kind}"] = {"bit_accuracy": round(v.bit_accuracy, 4), "p_value": v.p_value,
                                         "detected": v.detected}
            message = self.messages[i].expand(len(clean), -1).to(self.dev)
            mark = (_mark(self.H, clean.to(self.dev), message, cfg.psnr).cpu() - quantize8(clean)).flatten(1)
            kept = (pool.outputs[f"{arch}-marked"][pool.val] - pool.outputs[f"{arch}-clean"][pool.val]).flatten(1)
            cos = (kept * mark).sum(1) / (kept.norm(dim=1) * mark.norm(dim=1)).clamp_min(1e-12)
            out[f"{arch}-marked"]["mark_kept"] = round(cos.mean().item(), 4)
        g = torch.Generator().manual_seed(cfg.seed + 3)
        bits = torch.randint(0, 2, (len(clean), self.R.bits), generator=g)
        direct = _mark(self.H, clean.to(self.dev), bits.to(self.dev), cfg.psnr)
        out["direct"] = ((self._read(R, direct) > 0).cpu() == bits.bool()).float().mean().item()
        out["clean_images"] = ((self._read(R, quantize8(clean)) > 0).cpu() == bits.bool()).float().mean().item()
        R.train()
        return out

    @torch.no_grad()
    def calibrated_extractor(self):
        """R with per-bit median-zero logits over the unmarked training images: clean images and the clean
        twins' outputs (see stage 1's ``calibrated_extractor``)."""
        pool = self.pool
        unmarked = [pool.clean[pool.train]] + [pool.outputs[f"{arch}-clean"][pool.train] for arch in self.cfg.archs]
        R = self.R.eval()
        logits = torch.cat([self._read(R, quantize8(x[i : i + 32])) for x in unmarked for i in range(0, len(x), 32)])
        return R.center_logits_(logits.median(dim=0).values)

    # -- persistence -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"config": dataclasses.asdict(self.cfg), "step": self.step, "R": self.R.state_dict(),
                "opt": self.opt.state_dict(), "generator": self.g.get_state(), "rng": self.rng.getstate()}

    def load(self, state: dict) -> None:
        self.step = state["step"]
        self.R.load_state_dict(state["R"])
        self.opt.load_state_dict(state["opt"])
        self.g.set_state(state["generator"])
        self.rng.setstate(state["rng"])


def _export(run: _Run, figures: dict) -> None:
    out = run.out
    meta = read_net_metadata(run.weights / "extractor.safetensors")
    extra = {"steps": run.step, "recipe": "wm_plugin.train.stage2", "figures": json.dumps(figures, sort_keys=True),
             "calibrated": "True", "init": str(run.weights)}
    save_net(run.R, out / "extractor.safetensors", name=meta["net"], config=json.loads(meta["config"]), extra=extra)
    with atomic_path(out / "embedder.safetensors") as tmp:  # H is unchanged: the owner's marks keep their meaning
        shutil.copyfile(run.weights / "embedder.safetensors", tmp)


def train_stage2(cfg: Stage2Config, *, resume: bool = False, progress: bool = True) -> dict:
    """Run (or resume) stage 2 and write ``embedder.safetensors`` (copied from ``cfg.init``) and a fine-tuned,
    calibrated ``extractor.safetensors`` to ``cfg.out``.

    Writes ``log.jsonl`` (a line per ``log_every`` steps) and ``checkpoint.pt``; trained surrogates are kept in
    ``out/surrogates`` and not trained again (a run folder made with other surrogate settings is refused:
    ``ConfigError``; more ``steps`` or other ``archs`` are fine). Returns ``{"before": ..., "after": ...}``: the
    held-out figures (``_Run.validate``) of the starting extractor and of the exported one.
    """
    out = Path(cfg.out)
    _check_reuse(out, cfg)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    run = _Run(cfg)
    run.train_surrogates(progress)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        run.load(torch.load(ckpt, map_location=run.dev, weights_only=True))
    before = run.validate(run.R0)
    started = time.time()
    with open(out / "log.jsonl", "a") as log:
        if run.step == 0:
            log.write(json.dumps({"step": 0, "before": before}) + "\n")
        for _ in tqdm(range(run.step, cfg.steps), desc="stage 2", unit="step", disable=not progress):
            stats = run.train_step()
            if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                log.write(json.dumps({"step": run.step, "seconds": round(time.time() - started, 1), **stats}) + "\n")
                log.flush()
            if run.step % cfg.checkpoint_every == 0 or run.step == cfg.steps:
                save_checkpoint(run.state(), ckpt)
        run.calibrated_extractor()
        after = run.validate()
        log.write(json.dumps({"step": run.step, "calibrated": True, "after": after}) + "\n")
    figures = {"before": before, "after": after}
    _export(run, figures)
    return figures
