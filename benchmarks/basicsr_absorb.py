"""Does a BasicSR model trained with the ``watermark:`` flag (mode absorb) emit the owner's mark, at what cost?

Two BasicSR runs of the same options file, one with the flag and one without, through ``wm basicsr-train``
(BasicSR's own train_pipeline). Data: 128×128 crops of the training photos (``benchmarks/datasets.py``),
bicubic ×2; evaluated on the held-out photos. Figures: PSNR of each model against the clean targets, and
``wm verify --model`` on each (bit accuracy, p-value, verdict): the flag-off run is the clean control.

Run: ``python benchmarks/basicsr_absorb.py data --iters 400`` (writes benchmarks/results/basicsr_absorb.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

RESULTS = Path(__file__).parent / "results"


def _crops(src: Path, out: Path, size: int, per_image: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for sub in ("gt", "lq"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        im = np.asarray(Image.open(path).convert("RGB"))
        h, w = im.shape[:2]
        if min(h, w) < size:
            continue
        for i in range(per_image):
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            gt = Image.fromarray(im[y : y + size, x : x + size])
            gt.save(out / "gt" / f"{path.stem}_{i}.png")
            gt.resize((size // 2, size // 2), Image.Resampling.BICUBIC).save(out / "lq" / f"{path.stem}_{i}.png")


def _options(name: str, iters: int, flag: bool) -> dict:
    opt = {
        "name": name, "model_type": "SRModel", "scale": 2, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {"name": "photos", "type": "PairedImageDataset", "dataroot_gt": "train/gt", "dataroot_lq": "train/lq",
                      "filename_tmpl": "{}", "io_backend": {"type": "disk"}, "gt_size": 96, "use_hflip": True,
                      "use_rot": True, "num_worker_per_gpu": 0, "batch_size_per_gpu": 8, "dataset_enlarge_ratio": 10},
            "val": {"name": "heldout", "type": "PairedImageDataset", "dataroot_gt": "test/gt", "dataroot_lq": "test/lq",
                    "io_backend": {"type": "disk"}},
        },
        "network_g": {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 32, "num_block": 4, "upscale": 2},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": 0,  # no EMA: the figures are of the network as trained
                   "optim_g": {"type": "Adam", "lr": 5e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [iters * 3 // 4], "gamma": 0.5},
                  "total_iter": iters, "warmup_iter": -1, "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": iters, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": False}}},
        "logger": {"print_freq": 50, "save_checkpoint_freq": iters, "use_tb_logger": False},
    }
    if flag:
        opt["watermark"] = {"key": "owner.key", "mode": "absorb"}
    return opt


def _wm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wm_cli", *args], cwd=cwd, capture_output=True, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--work", default="runs/basicsr_absorb")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    _crops(Path(args.data) / "train", work / "train", 128, 8, 0)
    _crops(Path(args.data) / "test", work / "test", 256, 2, 1)
    if not (work / "owner.key").exists():
        _wm("keygen", "-o", "owner.key", cwd=work).check_returncode()
    rows = []
    for flag in (True, False):
        name = f"msrresnet_x2_{'wm' if flag else 'plain'}"
        cfg = work / f"{name}.yml"
        cfg.write_text(yaml.safe_dump(_options(name, args.iters, flag), sort_keys=False))
        started = time.time()
        res = _wm("basicsr-train", "-opt", cfg.name, cwd=work)
        if res.returncode:
            sys.exit(f"training {name} failed: {res.stderr[-2000:]}")
        seconds = time.time() - started
        log = next((work / "experiments" / name).glob("train_*.log")).read_text()
        psnr = float(log.rsplit("# psnr: ", 1)[1].split()[0])
        ckpt = work / "experiments" / name / "models" / "net_g_latest.pth"
        v = _wm("verify", "--framework", "basicsr", "-opt", cfg.name, "--model", str(ckpt.relative_to(work)),
                "--key", "owner.key", "--data", "test/lq", "--json", cwd=work)
        verdict = json.loads(v.stdout)
        rows.append({"run": name, "flag": flag, "iters": args.iters, "train_seconds": round(seconds, 1),
                     "val_psnr": psnr, "detected": verdict["detected"], "p_value": verdict["p_value"],
                     "bit_accuracy": verdict["bit_accuracy"], "n_images": verdict["n_images"]})
        print(json.dumps(rows[-1]))
    RESULTS.mkdir(exist_ok=True)
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"), "rows": rows}
    (RESULTS / "basicsr_absorb.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
