"""MMagic end to end: EDSR ×2 (or ×4) trained by MMagic's own tools/train.py with and without the watermark
flag, then (absorb mode) the unflagged model protected with ``wm protect --mode barrier``; every model put to
``wm verify`` (``--trigger`` in trigger mode).

Data: the BasicSR benchmarks' crops (``basicsr_runs.prepare``: 128² crops of the training photos, 256²
crops of the held-out ones, bicubic ÷2 or ÷4). Figures: MMagic's own validation PSNR of each model on the
held-out crops, ``wm protect``'s check (PSNR of the protected outputs against the original's, verdicts) and
``wm verify --model`` on each model with the held-out inputs as probes.

Run: ``python benchmarks/mmagic_edsr.py data --iters 400 [--scheme spectral] [--mode trigger] [--scale 4]``
(writes benchmarks/results/mmagic_edsr.json; the name takes ``_x4`` at ×4, ``_spectral`` with a spectral key,
``_trigger`` in trigger mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from basicsr_runs import prepare, scale_suffix, scheme_key, wm
from results_files import write_json

RESULTS = Path(__file__).parent / "results"

CONFIG = """\
_base_ = 'mmagic::edsr/edsr_x{scale}c64b16_1xb16-300k_div2k.py'
{flag}
experiment_name = '{name}'
work_dir = './work_dirs/{name}'
randomness = dict(seed=0)
model = dict(generator=dict(mid_channels=32, num_blocks=4))
train_pipeline = [
    dict(type='LoadImageFromFile', key='img', channel_order='rgb', imdecode_backend='cv2'),
    dict(type='LoadImageFromFile', key='gt', channel_order='rgb', imdecode_backend='cv2'),
    dict(type='SetValues', dictionary=dict(scale={scale})),
    dict(type='PairedRandomCrop', gt_patch_size=96),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(num_workers=0, batch_size=8, dataset=dict(
    ann_file='', data_root='train', data_prefix=dict(img='lq', gt='gt'), pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(data_root='test', data_prefix=dict(img='lq', gt='gt')))
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = dict(milestones=[{milestone}])
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(checkpoint=dict(interval={iters}, out_dir=None, save_best=None), logger=dict(interval=50))
custom_hooks = []
"""
FLAG = ("custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)\n"
        "watermark = dict(key={key!r}, mode={mode!r})")


def verify(config: str, model: str, work: Path, key: str, trigger: bool = False) -> dict:
    res = wm("verify", "--framework", "mmagic", "--config", config, "--model", model, "--key", key,
             "--data", "test/lq", "--json", *(["--trigger"] if trigger else []), cwd=work)
    if res.returncode not in (0, 1):
        sys.exit(f"wm verify failed: {res.stderr[-2000:]}")
    v = json.loads(res.stdout)
    return {k: v[k] for k in ("detected", "p_value", "bit_accuracy", "n_images")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--work", default=None, help="default runs/mmagic_edsr (×2), runs/mmagic_edsr_x4 (×4)")
    ap.add_argument("--scale", type=int, choices=[2, 4], default=2)
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep", help="the key's scheme")
    ap.add_argument("--mode", choices=["absorb", "trigger"], default="absorb", help="the flag's mode")
    args = ap.parse_args()
    trigger = args.mode == "trigger"
    x = scale_suffix(args.scale)
    work = prepare(args.data, args.work or f"runs/mmagic_edsr{x}", per_image=8, scale=args.scale)
    key, suffix = scheme_key(work, args.scheme)
    suffix += "_trigger" if trigger else ""
    rows = []
    for flag in (False, True):
        name = f"edsr_x{args.scale}_{'wm' if flag else 'plain'}{suffix}"
        block = FLAG.format(key=key, mode=args.mode) if flag else ""
        (work / f"{name}.py").write_text(CONFIG.format(flag=block, name=name, iters=args.iters, scale=args.scale,
                                                       milestone=args.iters * 3 // 4))
        started = time.time()
        res = wm("mmagic-train", f"{name}.py", cwd=work)
        if res.returncode:
            sys.exit(f"training {name} failed: {res.stderr[-2000:]}")
        seconds = time.time() - started
        scalars = [json.loads(line) for line in
                   next((work / "work_dirs" / name).glob("*/vis_data/scalars.json")).read_text().splitlines()]
        psnr = [s["PSNR"] for s in scalars if "PSNR" in s][-1]
        ckpt = f"work_dirs/{name}/iter_{args.iters}.pth"
        rows.append({"run": name, "flag": flag, "iters": args.iters, "train_seconds": round(seconds, 1),
                     "val_psnr": psnr, **verify(f"{name}.py", ckpt, work, key, trigger)})
        print(json.dumps(rows[-1]))
        if not flag and not trigger:
            res = wm("protect", "--framework", "mmagic", "--config", f"{name}.py", "--checkpoint", ckpt, "--key",
                     key, "-o", f"{name}_barrier.pth", "--data", "test/lq", "--json", "--force", cwd=work)
            if res.returncode not in (0, 1):  # 1: written, its check failed; the row below records how
                sys.exit(f"wm protect failed: {res.stderr[-2000:]}")
            check = json.loads(res.stdout)
            rows.append({"run": f"{name} + wm protect --mode barrier", "psnr_vs_original": check["psnr_vs_original"],
                         **verify(f"{name}_barrier.py", f"{name}_barrier.pth", work, key)})
            print(json.dumps(rows[-1]))
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
           "scale": args.scale, "scheme": args.scheme, "mode": args.mode, "rows": rows}
    write_json(RESULTS / f"mmagic_edsr{x}{suffix}.json", doc)


if __name__ == "__main__":
    main()
