"""Train the small BasicSR model that ships for ``wm demo`` (SRVGGNetCompact ×2, ~40 K parameters).

A real restoration model, only a small one: trained without the watermark, by BasicSR's own train_pipeline
(``wm basicsr-train`` on an options file without the flag), on 128×128 crops of the training photos of
``benchmarks/datasets.py``, bicubic ×2. Writes ``adapters/wm_basicsr/demo/srvgg_x2.pth`` and the options file
beside it, and its validation PSNR on the held-out photos next to bicubic's to ``benchmarks/results/``.

Run: ``python benchmarks/demo_model.py data --iters 3000``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from basicsr_runs import prepare, sr_options, train
from results_files import write_json

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "adapters" / "wm_basicsr" / "demo"
NETWORK = {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 32, "num_conv": 4, "upscale": 2,
           "act_type": "prelu"}


def _bicubic_psnr(folder: Path) -> float:
    vals = []
    for gt_path in sorted((folder / "gt").iterdir()):
        gt = np.asarray(Image.open(gt_path), np.float64)
        lq = Image.open(folder / "lq" / gt_path.name)
        up = np.asarray(lq.resize((gt.shape[1], gt.shape[0]), Image.Resampling.BICUBIC), np.float64)
        mse = np.mean((gt[2:-2, 2:-2] - up[2:-2, 2:-2]) ** 2)
        vals.append(10 * np.log10(255**2 / mse))
    return float(np.mean(vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--work", default="runs/demo_model")
    args = ap.parse_args()
    work = prepare(args.data, args.work, per_image=16)
    opt = sr_options("srvgg_x2", NETWORK, iters=args.iters, batch=16, lr=1e-3, ema=0.999,
                     milestones=[args.iters // 2, args.iters * 3 // 4], enlarge=20, print_freq=100)
    started = time.time()
    _, psnr, exp = train(work, opt)
    DEMO.mkdir(exist_ok=True)
    doc = torch.load(exp / "models" / "net_g_latest.pth", weights_only=True)
    torch.save({"params_ema": doc["params_ema"]}, DEMO / "srvgg_x2.pth")
    test_opt = {"name": "srvgg_x2_demo", "model_type": "SRModel", "scale": 2, "num_gpu": 0, "network_g": NETWORK,
                "path": {"pretrain_network_g": "srvgg_x2.pth", "param_key_g": "params_ema", "strict_load_g": True}}
    (DEMO / "srvgg_x2.yml").write_text("# The small SR model `wm demo` protects "
                                       "(benchmarks/demo_model.py trained it).\n"
                                       + yaml.safe_dump(test_opt, sort_keys=False))
    figures = {"iters": args.iters, "seconds": round(time.time() - started), "val_psnr": psnr,
               "bicubic_psnr": _bicubic_psnr(work / "test"),
               "parameters": sum(v.numel() for v in doc["params_ema"].values())}
    write_json(ROOT / "benchmarks" / "results" / "demo_model.json", figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
