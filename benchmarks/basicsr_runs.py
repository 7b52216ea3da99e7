"""What the BasicSR benchmarks share: paired crops of the package photos, an SR options file, a training run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def crops(src: Path, out: Path, size: int, per_image: int, seed: int, scale: int = 2) -> None:
    """Random ``size``² crops of each photo in ``src`` into ``out/gt``, their bicubic ÷``scale`` into ``out/lq``."""
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
            lq = gt.resize((size // scale, size // scale), Image.Resampling.BICUBIC)
            lq.save(out / "lq" / f"{path.stem}_{i}.png")


def scale_suffix(scale: int) -> str:
    """What the benchmarks add to run, folder and results names at ``scale``: nothing at ×2 (the first runs'
    names), ``_x4`` at ×4."""
    return "" if scale == 2 else f"_x{scale}"


def prepare(data: str, work: str, per_image: int, scale: int = 2) -> Path:
    """The working folder ``work`` with ``train/`` (``per_image`` 128² crops of each training photo) and
    ``test/`` (two 256² crops of each held-out photo), both as gt + bicubic ÷``scale`` lq."""
    folder = Path(work)
    folder.mkdir(parents=True, exist_ok=True)
    crops(Path(data) / "train", folder / "train", 128, per_image, 0, scale)
    crops(Path(data) / "test", folder / "test", 256, 2, 1, scale)
    return folder


def sr_options(name: str, network: dict, *, iters: int, batch: int, lr: float, ema: float, milestones: list[int],
               enlarge: int, print_freq: int, num_gpu: int = 0, scale: int = 2, seed: int = 0) -> dict:
    """A BasicSR ×``scale`` SRModel options file on ``train/`` (96² crops, L1) validated on ``test/``."""
    return {
        "name": name, "model_type": "SRModel", "scale": scale, "num_gpu": num_gpu, "manual_seed": seed,
        "datasets": {
            "train": {"name": "photos", "type": "PairedImageDataset", "dataroot_gt": "train/gt",
                      "dataroot_lq": "train/lq", "filename_tmpl": "{}", "io_backend": {"type": "disk"}, "gt_size": 96,
                      "use_hflip": True, "use_rot": True, "num_worker_per_gpu": 0, "batch_size_per_gpu": batch,
                      "dataset_enlarge_ratio": enlarge},
            "val": {"name": "heldout", "type": "PairedImageDataset", "dataroot_gt": "test/gt", "dataroot_lq": "test/lq",
                    "io_backend": {"type": "disk"}},
        },
        "network_g": network,
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": ema, "optim_g": {"type": "Adam", "lr": lr, "weight_decay": 0, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": milestones, "gamma": 0.5},
                  "total_iter": iters, "warmup_iter": -1,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": iters, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": scale, "test_y_channel": False}}},
        "logger": {"print_freq": print_freq, "save_checkpoint_freq": iters, "use_tb_logger": False},
    }


def scheme_key(work: Path, scheme: str) -> tuple[str, str]:
    """The owner key of ``scheme`` in ``work`` (made if missing) and the suffix of that scheme's run names:
    ("owner.key", "") for the deep scheme, ("owner_spectral.key", "_spectral") for the spectral one."""
    key, suffix = ("owner.key", "") if scheme == "deep" else (f"owner_{scheme}.key", f"_{scheme}")
    if not (work / key).exists():
        wm("keygen", "--scheme", scheme, "-o", key, cwd=work).check_returncode()
    return key, suffix


def wm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``wm`` CLI in ``cwd`` (BasicSR's paths are relative to it)."""
    return subprocess.run([sys.executable, "-m", "wm_cli", *args], cwd=cwd, capture_output=True, text=True)


def train(work: Path, opt: dict) -> tuple[float, float, Path]:
    """Write ``opt`` to ``work`` and run ``wm basicsr-train`` on it: (seconds, final validation PSNR,
    experiment dir)."""
    return train_all(work, [opt])[0]


def train_all(work: Path, opts: list[dict], *, parallel: bool = False) -> list[tuple[float, float, Path]]:
    """``train`` for each options file of ``opts``, one after the other or all at once (``parallel``: on a GPU
    that has room for them)."""
    if not parallel:
        return [_finish(work, opt, *_start(work, opt)) for opt in opts]
    started = [_start(work, opt) for opt in opts]
    return [_finish(work, opt, *run) for opt, run in zip(opts, started)]


def _start(work: Path, opt: dict) -> tuple[subprocess.Popen, float]:
    cfg = work / f"{opt['name']}.yml"
    cfg.write_text(yaml.safe_dump(opt, sort_keys=False))
    cmd = [sys.executable, "-m", "wm_cli", "basicsr-train", "-opt", cfg.name]
    return subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), time.time()


def _finish(work: Path, opt: dict, proc: subprocess.Popen, started: float) -> tuple[float, float, Path]:
    _, stderr = proc.communicate()
    if proc.returncode:
        sys.exit(f"training {opt['name']} failed: {stderr[-2000:]}")
    exp = work / "experiments" / opt["name"]
    log = next(exp.glob("train_*.log")).read_text()
    return time.time() - started, float(log.rsplit("# psnr: ", 1)[1].split()[0]), exp
