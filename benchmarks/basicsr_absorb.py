"""Does a BasicSR model trained with the ``watermark:`` flag (absorb or trigger) emit the mark, at what cost?

Two BasicSR runs of the same options file, one with the flag and one without, through ``wm basicsr-train``
(BasicSR's own train_pipeline). Data: 128×128 crops of the training photos (``benchmarks/datasets.py``),
bicubic ÷2 (or ÷4 with ``--scale 4``); evaluated on the held-out photos. Figures: PSNR of each model against
the clean targets, and ``wm verify --model`` on each (bit accuracy, p-value, verdict; ``--trigger`` probes
in trigger mode): the flag-off run is the clean control.

Run: ``python benchmarks/basicsr_absorb.py data --iters 400 [--scheme spectral] [--mode trigger] [--scale 4]
[--seed N] [--plain-only | --flag-only]`` (writes benchmarks/results/basicsr_absorb.json,
basicsr_absorb_spectral.json with a spectral key, basicsr_trigger.json in trigger mode; ``_x4`` before ``.json`` at
×4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from basicsr_runs import prepare, scale_suffix, scheme_key, sr_options, train_all, wm
from results_files import write_json

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--work", default=None, help="default runs/basicsr_absorb (×2), runs/basicsr_absorb_x4 (×4)")
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep", help="the key's scheme")
    ap.add_argument("--mode", choices=["absorb", "trigger"], default="absorb", help="the flag's mode")
    ap.add_argument("--trigger-weight", type=float, default=None,
                    help="the flag's trigger_weight (default: the flag's)")
    ap.add_argument("--num-feat", type=int, default=32, help="MSRResNet's width (BasicSR's own: 64)")
    ap.add_argument("--num-block", type=int, default=4, help="MSRResNet's depth (BasicSR's own: 16)")
    ap.add_argument("--scale", type=int, choices=[2, 4], default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0, help="BasicSR's manual_seed (initialisation, crops), in both runs")
    ap.add_argument("--num-gpu", type=int, default=0, help="BasicSR's num_gpu; with 1 both runs train at once")
    ap.add_argument("--out", type=Path, default=None, help="the results file (default: under benchmarks/results)")
    ap.add_argument("--plain-only", action="store_true",
                    help="train only the run without the flag (the model that trigger_tpr.py protects)")
    ap.add_argument("--flag-only", action="store_true", help="train only the run with the flag")
    args = ap.parse_args()
    x = scale_suffix(args.scale)
    work = prepare(args.data, args.work or f"runs/basicsr_absorb{x}", per_image=8, scale=args.scale)
    key, suffix = scheme_key(work, args.scheme)
    suffix += "_trigger" if args.mode == "trigger" else ""
    network = {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": args.num_feat,
               "num_block": args.num_block, "upscale": args.scale}
    opts = []
    for flag in (False,) if args.plain_only else (True,) if args.flag_only else (True, False):
        name = f"msrresnet_x{args.scale}_{'wm' if flag else 'plain'}{suffix}"
        # no EMA: the figures are of the network as trained
        opt = sr_options(name, network, iters=args.iters, batch=args.batch, lr=5e-4, ema=0,
                         milestones=[args.iters * 3 // 4], enlarge=10, print_freq=50, num_gpu=args.num_gpu,
                         scale=args.scale, seed=args.seed)
        if flag:
            opt["watermark"] = {"key": key, "mode": args.mode}
            if args.trigger_weight is not None:
                opt["watermark"]["trigger_weight"] = args.trigger_weight
        opts.append(opt)
    rows = []
    for opt, (seconds, psnr, exp) in zip(opts, train_all(work, opts, parallel=args.num_gpu > 0)):
        name = opt["name"]
        v = wm("verify", "--framework", "basicsr", "-opt", f"{name}.yml", "--model",
               str((exp / "models" / "net_g_latest.pth").relative_to(work)), "--key", key, "--data", "test/lq",
               "--json", *(["--trigger"] if args.mode == "trigger" else []),
               *(["--device", "cuda"] if args.num_gpu else []), cwd=work)
        verdict = json.loads(v.stdout)
        rows.append({"run": name, "flag": "watermark" in opt, "iters": args.iters, "train_seconds": round(seconds, 1),
                     "network": network, "batch": args.batch, "watermark": opt.get("watermark"),
                     "val_psnr": psnr, "detected": verdict["detected"], "p_value": verdict["p_value"],
                     "bit_accuracy": verdict["bit_accuracy"], "n_images": verdict["n_images"]})
        print(json.dumps(rows[-1]))
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    if args.num_gpu:
        import torch

        machine = torch.cuda.get_device_name(0)
    doc = {"machine": machine, "date": time.strftime("%Y-%m-%d"), "scale": args.scale, "scheme": args.scheme,
           "mode": args.mode, "seed": args.seed, "rows": rows}
    stem = f"basicsr_trigger{x}" if args.mode == "trigger" else f"basicsr_absorb{suffix}{x}"
    out = args.out or RESULTS / f"{stem}.json"
    write_json(out, doc)


if __name__ == "__main__":
    main()
