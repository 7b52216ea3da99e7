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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from basicsr_absorb import _crops
from PIL import Image

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
    work = Path(args.work)
    _crops(Path(args.data) / "train", work / "train", 128, 16, 0)
    _crops(Path(args.data) / "test", work / "test", 256, 2, 1)
    opt = {
        "name": "srvgg_x2", "model_type": "SRModel", "scale": 2, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {"name": "photos", "type": "PairedImageDataset", "dataroot_gt": "train/gt", "dataroot_lq": "train/lq",
                      "filename_tmpl": "{}", "io_backend": {"type": "disk"}, "gt_size": 96, "use_hflip": True,
                      "use_rot": True, "num_worker_per_gpu": 0, "batch_size_per_gpu": 16, "dataset_enlarge_ratio": 20},
            "val": {"name": "heldout", "type": "PairedImageDataset", "dataroot_gt": "test/gt", "dataroot_lq": "test/lq",
                    "io_backend": {"type": "disk"}},
        },
        "network_g": NETWORK,
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": 0.999, "optim_g": {"type": "Adam", "lr": 1e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [args.iters // 2, args.iters * 3 // 4], "gamma": 0.5},
                  "total_iter": args.iters, "warmup_iter": -1,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": args.iters, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": False}}},
        "logger": {"print_freq": 100, "save_checkpoint_freq": args.iters, "use_tb_logger": False},
    }
    (work / "srvgg_x2.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    started = time.time()
    res = subprocess.run([sys.executable, "-m", "wm_cli", "basicsr-train", "-opt", "srvgg_x2.yml"], cwd=work)
    if res.returncode:
        sys.exit("training failed")
    exp = work / "experiments" / "srvgg_x2"
    log = next(exp.glob("train_*.log")).read_text()
    psnr = float(log.rsplit("# psnr: ", 1)[1].split()[0])
    DEMO.mkdir(exist_ok=True)
    doc = torch.load(exp / "models" / "net_g_latest.pth", weights_only=True)
    torch.save({"params_ema": doc["params_ema"]}, DEMO / "srvgg_x2.pth")
    test_opt = {"name": "srvgg_x2_demo", "model_type": "SRModel", "scale": 2, "num_gpu": 0, "network_g": NETWORK,
                "path": {"pretrain_network_g": "srvgg_x2.pth", "param_key_g": "params_ema", "strict_load_g": True}}
    (DEMO / "srvgg_x2.yml").write_text("# The small SR model `wm demo` protects (benchmarks/demo_model.py trained it).\n"
                                       + yaml.safe_dump(test_opt, sort_keys=False))
    figures = {"iters": args.iters, "seconds": round(time.time() - started), "val_psnr": psnr,
               "bicubic_psnr": _bicubic_psnr(work / "test"),
               "parameters": sum(v.numel() for v in doc["params_ema"].values())}
    (ROOT / "benchmarks" / "results" / "demo_model.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
