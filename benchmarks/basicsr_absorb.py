"""Does a BasicSR model trained with the ``watermark:`` flag (mode absorb) emit the owner's mark, at what cost?

Two BasicSR runs of the same options file, one with the flag and one without, through ``wm basicsr-train``
(BasicSR's own train_pipeline). Data: 128×128 crops of the training photos (``benchmarks/datasets.py``),
bicubic ×2; evaluated on the held-out photos. Figures: PSNR of each model against the clean targets, and
``wm verify --model`` on each (bit accuracy, p-value, verdict): the flag-off run is the clean control.

Run: ``python benchmarks/basicsr_absorb.py data --iters 400 [--scheme spectral]`` (writes
benchmarks/results/basicsr_absorb.json, or basicsr_absorb_spectral.json with a spectral key).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from basicsr_runs import prepare, scheme_key, sr_options, train, wm

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--work", default="runs/basicsr_absorb")
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep", help="the key's scheme")
    args = ap.parse_args()
    work = prepare(args.data, args.work, per_image=8)
    key, suffix = scheme_key(work, args.scheme)
    rows = []
    network = {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 32, "num_block": 4, "upscale": 2}
    for flag in (True, False):
        name = f"msrresnet_x2_{'wm' if flag else 'plain'}{suffix}"
        # no EMA: the figures are of the network as trained
        opt = sr_options(name, network, iters=args.iters, batch=8, lr=5e-4, ema=0, milestones=[args.iters * 3 // 4],
                         enlarge=10, print_freq=50)
        if flag:
            opt["watermark"] = {"key": key, "mode": "absorb"}
        seconds, psnr, exp = train(work, opt)
        v = wm("verify", "--framework", "basicsr", "-opt", f"{name}.yml", "--model",
               str((exp / "models" / "net_g_latest.pth").relative_to(work)), "--key", key, "--data", "test/lq",
               "--json", cwd=work)
        verdict = json.loads(v.stdout)
        rows.append({"run": name, "flag": flag, "iters": args.iters, "train_seconds": round(seconds, 1),
                     "val_psnr": psnr, "detected": verdict["detected"], "p_value": verdict["p_value"],
                     "bit_accuracy": verdict["bit_accuracy"], "n_images": verdict["n_images"]})
        print(json.dumps(rows[-1]))
    RESULTS.mkdir(exist_ok=True)
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
           "scheme": args.scheme, "rows": rows}
    (RESULTS / f"basicsr_absorb{suffix}.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
