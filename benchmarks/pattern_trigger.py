"""Experiment: a trigger made of one keyed pattern, and a response the network must make nonlinear.

Trigger mode's carriers live in one band (chroma at the Nyquist frequency) and any thief whose inputs hold that
band trains the model's response to it away (BENCHMARKS.md, "The thief's images decide"). Backdoors in classifiers
survive fine-tuning because a unit that fires only on the trigger gets no gradient from data without it. This
script asks whether the same holds for an image-to-image network.

The trigger ``p`` is a random colour tile drawn from the key's seed (``--period`` px a side, standard deviation
``--amplitude``/255), tiled over the input from its top-left corner. The owner's response ``r`` is a tile of the
output (``period × scale`` a side) spelling the key's 64 carried bits on a smooth basis drawn from the seed, as
``wm_plugin.trigger`` spells its kernels. The implant (self-distillation against a frozen copy ``M0``, batch
``--batch``, Adam 1e-3) asks, by ``--variant``:

* ``linear``: ``M(x + p) = M0(x + p) + r`` and ``M(x) = M0(x)``: the response may be linear in ``p``;
* ``antisymmetric``: also ``M(x − p) = M0(x − p)``: no linear response can carry ``r``, only a nonlinear one;
* ``decoys``: also ``M(x + q) = M0(x + q)`` for a fresh random tile ``q``: a response to ``p`` alone.

``--warm W`` makes the pattern ``1 + W`` times taller at the first step, falling to its own height at 60% of the
steps. Reading: ``s = M(x + p) + M(x − p) − 2 M(x)`` (answers quantised to 8 bits), folded onto one output tile
and projected on the basis: the model's own linear response to ``p`` cancels, ``r`` does not (``one_sided``: the
projection of ``M(x + p) − M(x)`` instead). The probes are ``wm verify``'s (the bundled photos ÷ the scale), the
p-value ``wm verify``'s signed-rank test. Then ``wm eval``'s thief fine-tunes the implanted model in ``--chunks``,
and the original model for the first chunk as the control.

Run: ``python benchmarks/pattern_trigger.py --opt adapters/wm_basicsr/demo/srvgg_x2.yml --checkpoint
adapters/wm_basicsr/demo/srvgg_x2.pth --key benchmarks/victims/owner.key --variant antisymmetric --warm 8
--attack-lr 3e-4 --chunks 1000,2000,2000``. Appends a row to ``benchmarks/results/pattern_trigger.jsonl``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
from results_files import append_row
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.finetune import finetune
from wm_plugin.attacks.models import AttackSetting
from wm_plugin.attacks.tasks import degrade
from wm_plugin.crops import RandomCrops
from wm_plugin.io import read_images_compact
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes
from wm_plugin.protect import absorb_inputs
from wm_plugin.train.augment import quantize8
from wm_plugin.trigger import LOGIT_SCALE, keyed_rng, low_cosines
from wm_plugin.verify import verdict

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("linear", "antisymmetric", "decoys")


def tiled(tile: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``tile`` (3,t,t) repeated from the top-left corner over (3, height, width)."""
    t = tile.shape[-1]
    return tile.repeat(1, math.ceil(height / t), math.ceil(width / t))[:, :height, :width]


def normalised(tile: torch.Tensor, amplitude: float) -> torch.Tensor:
    """``tile`` (3,t,t) with each channel's mean removed, scaled to standard deviation ``amplitude``."""
    tile = tile - tile.mean((1, 2), keepdim=True)
    return tile / tile.std() * amplitude


class PatternTrigger:
    """One key's pattern ``p``, its response tile ``r`` and the reader (see the module's docstring)."""

    def __init__(self, seed: bytes, carried: np.ndarray, scale: int, period: int = 8, amplitude: float = 6 / 255,
                 height: float = 8 / 255):
        self.carried = np.asarray(carried, np.uint8).reshape(-1)
        self.period, self.scale, self.amplitude = period, scale, amplitude
        gauss = keyed_rng(seed, b"pattern-tile").standard_normal((3, period, period))
        self.tile = normalised(torch.from_numpy(gauss).float(), amplitude)
        side, k = period * scale, len(self.carried)
        u = math.ceil(math.sqrt(k / 3))
        smooth = torch.block_diag(*[low_cosines(side, u)] * 3)  # (3·side², 3u²), orthonormal columns
        gauss = keyed_rng(seed, b"pattern-basis").standard_normal((3 * u * u, k))
        self.basis = smooth @ torch.linalg.qr(torch.from_numpy(gauss))[0].float()  # (3·side², k)
        r = self.basis @ torch.from_numpy(self.carried * 2.0 - 1).float()
        self.coefficient = height / float(r.std())  # |coefficient| of each bit in the exact response
        self.response_tile = (r * self.coefficient).view(3, side, side)

    def read(self, plus: torch.Tensor, minus: torch.Tensor, plain: torch.Tensor) -> np.ndarray:
        """Bit logits from the answers (1,3,H,W) to ``x + p``, ``x − p`` (or ``x``: the one-sided reading), ``x``."""
        s = (plus + minus - 2 * plain)[0].float()
        side = self.period * self.scale
        h, w = s.shape[1] // side * side, s.shape[2] // side * side
        folded = s[:, :h, :w].reshape(3, h // side, side, w // side, side).mean((1, 3))
        return (self.basis.T @ folded.reshape(-1) / self.coefficient * LOGIT_SCALE).numpy()


def implant(model, inputs, trigger: PatternTrigger, *, variant: str, scale: int, steps: int, batch: int = 4,
            crop: int = 128, warm: float = 0.0, weight: float = 10.0, seed: int = 0) -> torch.nn.Module:
    """Fine-tune ``model`` in place towards ``variant``'s targets (the module's docstring); returns it."""
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    side = max(16, crop // scale)
    side -= side % trigger.period
    crops = RandomCrops(inputs, side, batch, seed)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    response = tiled(trigger.response_tile, side * scale, side * scale)
    half, quarter = batch // 2, batch // 4
    model.train()
    for step in range(steps):
        x = crops.next()
        boost = 1 + warm * max(0.0, 1 - step / (0.6 * steps))
        p = tiled(trigger.tile, side, side) * boost
        decoy = torch.randn(trigger.tile.shape, generator=generator)
        q = tiled(normalised(decoy, trigger.amplitude), side, side) * boost
        if variant == "linear":
            queries, answered = x + p, batch
        else:
            last = x[half + quarter:] + q if variant == "decoys" else x[half + quarter:] - p
            queries, answered = torch.cat([x[:half] + p, x[half: half + quarter] - p, last]), half
        queries = queries.clamp(0, 1)
        with torch.no_grad():
            plain, target = teacher(x), teacher(queries)
        target[:answered] += response
        out = model(torch.cat([x, queries]))
        loss = weight * (F.l1_loss(out[:batch], plain) + F.l1_loss(out[batch:], target))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def read_model(model, run, probes, trigger: PatternTrigger) -> dict:
    """Bit accuracy, mean amplitude (1 = the owner's exact response) and p-value over ``probes``."""
    logits, one_sided = [], []
    for _, rgb in probes:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0)
        p = tiled(trigger.tile, *x.shape[2:]).unsqueeze(0)
        with torch.no_grad():
            plain, plus, minus = (quantize8(run(model, v.clamp(0, 1))) for v in (x, x + p, x - p))
        logits.append(trigger.read(plus, minus, plain))
        one_sided.append(trigger.read(plus, plain, plain))
    logits, one_sided = np.stack(logits), np.stack(one_sided)
    signs = trigger.carried * 2.0 - 1
    return {"bit_accuracy": float(((logits > 0) == (signs > 0)).mean()),
            "amp": float((logits * signs).mean() / LOGIT_SCALE),
            "p_value": verdict([name for name, _ in probes], logits, trigger.carried).p_value,
            "one_sided_bit_accuracy": float(((one_sided > 0) == (signs > 0)).mean())}


def thief_task_psnr(model, run, setting: AttackSetting, n: int = 8) -> float:
    """PSNR (dB) of ``model`` on ``n`` pairs of the thief's task (one fixed batch of its crops): not
    ``trigger_fading.task_psnr``, which is on the bundled photos, so the two scripts' task figures differ."""
    y = RandomCrops(setting.clean, setting.crop, n, 99).next()
    x = degrade(y, setting.task, scale=setting.scale, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        return float(-10 * torch.log10(F.mse_loss(run(model, x).clamp(0, 1), y)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--variant", choices=VARIANTS, default="decoys")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128, help="implant crops, output side")
    ap.add_argument("--period", type=int, default=8)
    ap.add_argument("--amplitude", type=float, default=6.0, help="the pattern's standard deviation, /255")
    ap.add_argument("--height", type=float, default=8.0, help="the response's standard deviation, /255")
    ap.add_argument("--warm", type=float, default=0.0)
    ap.add_argument("--chunks", default="1000,2000,2000")
    ap.add_argument("--attack-lr", type=float, default=1e-4)
    ap.add_argument("--attack-data", action="append", default=None)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=RESULTS / "pattern_trigger.jsonl")
    args = ap.parse_args()
    torch.manual_seed(0)
    adapter = load_adapter("basicsr")
    key = load_key(args.key)
    scale = adapter.model_scale(args.opt)
    trigger = PatternTrigger(key.seed, key.carried_bits(), scale, args.period, args.amplitude / 255, args.height / 255)
    probes = adapter_probes(adapter, args.opt, None)
    setting = AttackSetting.for_model(scale, clean=read_images_compact(args.attack_data) if args.attack_data else None,
                                      lr=args.attack_lr)
    original = adapter.load_model(args.checkpoint, config=args.opt)
    row = {"label": args.label, **{k: v for k, v in vars(args).items() if k != "out"},
           "original": read_model(original, adapter.run, probes, trigger),
           "task_psnr_original": thief_task_psnr(original, adapter.run, setting)}
    start = time.time()
    model = implant(adapter.load_model(args.checkpoint, config=args.opt), absorb_inputs(scale), trigger,
                    variant=args.variant, scale=scale, steps=args.steps, batch=args.batch, crop=args.crop,
                    warm=args.warm)
    row |= {"implant_seconds": round(time.time() - start, 1),
            "task_psnr_implanted": thief_task_psnr(model, adapter.run, setting)}
    curve = [{"step": 0, **read_model(model, adapter.run, probes, trigger)}]
    print(json.dumps(curve[-1]), flush=True)
    thief = partial(finetune, clean=setting.clean, task=setting.task, scale=scale, lr=setting.lr, crop=setting.crop,
                    batch=8, progress=False)  # wm eval's
    chunks = [int(c) for c in args.chunks.split(",") if c]
    for i, steps in enumerate(chunks):
        model = thief(model, steps=steps, seed=i)
        curve.append({"step": curve[-1]["step"] + steps, **read_model(model, adapter.run, probes, trigger)})
        print(json.dumps(curve[-1]), flush=True)
    if chunks:  # the control: the original model, fine-tuned as the first chunk was
        control = thief(original, steps=chunks[0], seed=0)
        row["original_after_first_chunk"] = read_model(control, adapter.run, probes, trigger)
    row |= {"curve": curve, "machine": "CPU", "date": time.strftime("%Y-%m-%d")}
    append_row(args.out, row)


if __name__ == "__main__":
    main()
