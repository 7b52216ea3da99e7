"""Can a network learn the spectral mark from marked targets? A surrogate and an absorbing model, measured.

A ×2 super-resolution network (BasicSR's SRVGGNetCompact) is trained three times on the same crops of the
same images, with the same seed: on clean targets (the control), on targets marked with a spectral key and
an L1 loss only (a thief's surrogate trained on a protected model's input/output pairs), and on the marked
targets with the reader's hinge loss added (what absorbing the mark into a model does). Each trained model
then super-resolves the held-out images, and its outputs are verified against the key.

Run: ``python benchmarks/spectral_learning.py DATA --steps 3000`` (DATA from ``benchmarks/datasets.py``).
Every verdict is given by both tests of ``wm_plugin.verify`` (sign, signed-rank). Writes
``benchmarks/results/spectral_learning.{json,md}`` (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from results_files import write_results
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.spectral import SpectralCodec
from wm_plugin.verify import verdict

RESULTS = Path(__file__).parent / "results"
RUNS = ("control", "surrogate", "absorb")  # the trainings, in the order they run by default


def load(folder: Path) -> list[torch.Tensor]:
    """The folder's images as (3,H,W) tensors in [0, 1], sides cut to even."""
    out = []
    for f in list_images([folder]):
        x = torch.from_numpy(read_image(f).rgb_float()).permute(2, 0, 1)
        out.append(x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2].contiguous())
    return out


def downscale(hr: torch.Tensor) -> torch.Tensor:
    """The ×2 degradation: anti-aliased bicubic."""
    return F.interpolate(hr, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def train(targets, images, codec, bits, *, steps, reader_weight, seed, crop=128, batch=8, lr=5e-4):
    """An SRVGGNetCompact ×2 trained on random crops of (downscaled image, target)."""
    from wm_basicsr.compat import apply as apply_compat

    apply_compat()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(seed)
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=32, num_conv=16, upscale=2, act_type="prelu")
    opt = torch.optim.Adam(net.parameters(), lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    sign = torch.as_tensor(bits, dtype=torch.float32) * 2 - 1
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            i = int(torch.randint(len(images), (1,), generator=g))
            h, w = images[i].shape[1:]
            y0 = int(torch.randint(0, (h - crop) // 2 + 1, (1,), generator=g)) * 2
            x0 = int(torch.randint(0, (w - crop) // 2 + 1, (1,), generator=g)) * 2
            xs.append(images[i][:, y0 : y0 + crop, x0 : x0 + crop])
            ys.append(targets[i][:, y0 : y0 + crop, x0 : x0 + crop])
        hr, target = torch.stack(xs), torch.stack(ys)
        out = net(downscale(hr))
        loss = F.l1_loss(out, target)
        if reader_weight:
            logits = codec.logits(codec.energies(out.clamp(0, 1).mean(dim=1)))
            loss = loss + reader_weight * F.relu(1 - sign * logits / 3).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.no_grad()
def evaluate(outputs, tests, codec, bits) -> dict:
    """PSNR of ``outputs`` against the clean held-out images, and their verdict."""
    psnrs = [float(10 * torch.log10(1 / F.mse_loss(out, hr))) for out, hr in zip(outputs, tests)]
    outs = [out.permute(1, 2, 0).numpy() for out in outputs]
    logits = codec.extract(outs)
    v, ranked = (verdict([str(i) for i in range(len(outs))], logits, bits, test=t) for t in ("sign", "signed-rank"))
    return {"psnr": float(np.mean(psnrs)), "bit_accuracy": v.bit_accuracy, "p_value": v.p_value,
            "detected": v.detected, "single_detected": v.n_images_detected, "n": v.n_images,
            "p_value_signed_rank": ranked.p_value, "single_detected_signed_rank": ranked.n_images_detected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with train/ and test/ (benchmarks/datasets.py)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--reader-weight", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all)")
    parser.add_argument("--runs", default=",".join(RUNS), help="which trainings, comma-separated")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    unknown = set(args.runs.split(",")) - set(RUNS)
    if unknown:
        parser.error(f"--runs: unknown {', '.join(sorted(unknown))}; known: {', '.join(RUNS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    key = generate_key(64, scheme="spectral")
    codec, bits = SpectralCodec.for_key(key), key.carried_bits()
    images, tests = load(args.data / "train"), load(args.data / "test")
    marked = [codec.mark_batch(x[None], bits)[0] for x in images]
    runs = {"control": ("clean targets (control)", images, 0.0),
            "surrogate": ("marked targets, L1 (surrogate)", marked, 0.0),
            "absorb": ("marked targets, L1 + reader loss (absorb)", marked, args.reader_weight)}
    upper = [codec.mark_batch(t[None], bits)[0] for t in tests]
    rows = {"marked held-out images (the targets' own reading)": {**evaluate(upper, tests, codec, bits), "seconds": 0}}
    for name, targets, weight in (runs[r] for r in args.runs.split(",")):
        started = time.time()
        net = train(targets, images, codec, bits, steps=args.steps, reader_weight=weight, seed=args.seed)
        with torch.no_grad():
            outputs = [net(downscale(hr[None])).clamp(0, 1)[0] for hr in tests]
        rows[name] = {**evaluate(outputs, tests, codec, bits), "seconds": round(time.time() - started)}
        print(name, rows[name], flush=True)

    doc = {"command": f"python benchmarks/spectral_learning.py {args.data} --steps {args.steps} "
                      f"--reader-weight {args.reader_weight} --runs {args.runs}",
           "steps": args.steps, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    lines = ["| training | train time | PSNR (held-out) | bit accuracy | p-value: sign test | signed-rank test | "
             "single outputs detected: sign | signed-rank |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        psnr = f"{r['psnr']:.2f} dB"
        lines.append(f"| {name} | {r['seconds']} s | {psnr} | {r['bit_accuracy']:.3f} | {r['p_value']:.2g} | "
                     f"{r['p_value_signed_rank']:.2g} | "
                     f"{r['single_detected']}/{r['n']} | {r['single_detected_signed_rank']}/{r['n']} |")
    write_results(args.out, "spectral_learning", doc, lines)


if __name__ == "__main__":
    main()
