"""How fast does each surrogate architecture copy a victim? PSNR between the surrogate's and the victim's answers
on held-out probes, every ``--every`` steps of wm eval's surrogate training (``train_surrogate``: its crops,
degradation, 8-bit answers, Adam 5e-4, L1; no schedule, so the curve is of training itself, not of a budget).

The denoising surrogates of BENCHMARKS.md read chance after 3k CPU steps while their answers stayed 25 dB from the
victim's: this says whether the surrogate or the mark is what fails.

Run: ``python benchmarks/surrogate_curve.py --opt .gpu/models/denoise_plain.yml --model .gpu/models/denoise_plain.pth
--probes data/probes_x1_noise25 --data data/train --archs srvgg,unet,resnet9 --steps 300``
(writes benchmarks/results/surrogate_curve.json).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from results_files import write_json
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.surrogate import train_surrogate
from wm_plugin.io import list_images, read_image, read_images_compact
from wm_plugin.metrics import psnr


def learning_curve(victim: torch.nn.Module, clean: list[np.ndarray], probes: list[torch.Tensor],
                   answers: list[torch.Tensor], arch: str, *, task: str, steps: int, every: int) -> list[dict]:
    """The PSNR between an ``arch`` surrogate's and the victim's ``answers`` on ``probes``, every ``every`` of the
    ``steps`` of its training for ``task`` on ``clean``."""
    curve, started = [], time.time()

    def record(step: int, net: torch.nn.Module) -> None:
        if step % every == 0:
            db = np.mean([psnr(net(x).clamp(0, 1), a).item() for x, a in zip(probes, answers)])
            curve.append({"step": step, "seconds": round(time.time() - started), "vs_victim_db": round(float(db), 2)})
            print(arch, curve[-1], flush=True)

    train_surrogate(victim, clean, arch=arch, loss="l1", task=task, steps=steps, cosine=False,
                    on_step=record, progress=False)
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True, help="the victim's BasicSR options file")
    ap.add_argument("--model", required=True, help="the victim's checkpoint")
    ap.add_argument("--probes", required=True, help="held-out probe inputs")
    ap.add_argument("--data", required=True, help="the thief's clean images")
    ap.add_argument("--task", default="denoise")
    ap.add_argument("--archs", default="srvgg,unet,resnet9")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--n-probes", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "surrogate_curve.json")
    args = ap.parse_args()
    adapter = load_adapter("basicsr")
    victim = adapter.load_model(args.model, config=args.opt, device="cpu").eval()
    probes = [torch.from_numpy(read_image(p).rgb_float()).permute(2, 0, 1)[None].float()
              for p in list_images([args.probes])[: args.n_probes]]
    with torch.no_grad():
        answers = [victim(x).clamp(0, 1) for x in probes]
    doc = {"date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(), "task": args.task,
           "victim_vs_input_db": float(np.mean([psnr(a, x).item() for a, x in zip(answers, probes)])), "curves": {}}
    clean = read_images_compact([args.data])
    for arch in args.archs.split(","):
        doc["curves"][arch] = learning_curve(victim, clean, probes, answers, arch, task=args.task, steps=args.steps,
                                             every=args.every)
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
