"""Train the denoising victim of the benchmarks: BasicSR's SRVGGNetCompact at ×1 (32 features, 8 convolutions),
Gaussian noise σ = 25, by BasicSR's own train_pipeline (``wm basicsr-train``) on random crops of the colour
training photos of ``benchmarks/datasets.py``, noisy copies made on the fly (``wm_basicsr``'s GaussianNoiseDataset).
The grey ones are left out (noise drawn apart in three equal channels is not what a colour denoiser meets). No
EMA copy: at decay 0.999 over this short a run it averages in the early weights (22.7 dB, where the trained
network scores 30.0).

Keeps the weights in ``benchmarks/victims/srvgg_denoise_plain.safetensors`` with the options file to test them
(so that every session, on either machine, attacks the same model), and writes the validation PSNR on the
held-out photos, beside the noisy inputs' own, to ``benchmarks/results/denoiser.json``.

Run: ``python benchmarks/denoiser.py data`` (1,500 iterations: 19 min on the 2-core CPU machine).
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
from safetensors.torch import save_file

from basicsr_runs import train
from results_files import write_json

ROOT = Path(__file__).parent.parent
VICTIMS = ROOT / "benchmarks" / "victims"
NAME = "srvgg_denoise_plain"
SIGMA = 25
NETWORK = {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 32, "num_conv": 8, "upscale": 1,
           "act_type": "prelu"}


def colour_photos(src: Path, out: Path) -> Path:
    """``out`` holding links to the colour images of ``src`` (grey ones, saved with one channel, left out)."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        with Image.open(path) as im:
            if im.mode == "RGB" and not (out / path.name).exists():
                (out / path.name).symlink_to(path.resolve())
    return out


def options(train: Path, test: Path, *, iters: int, batch: int, gt_size: int) -> dict:
    """The BasicSR ×1 SRModel options file: noisy crops of the images in ``train``, validated on ``test``'s."""
    noisy = {"type": "GaussianNoiseDataset", "sigma": SIGMA, "io_backend": {"type": "disk"}}
    return {
        "name": NAME, "model_type": "SRModel", "scale": 1, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {"name": "photos", "dataroot_gt": str(train), **noisy, "gt_size": gt_size,
                      "use_hflip": True, "use_rot": True, "num_worker_per_gpu": 0, "batch_size_per_gpu": batch,
                      "dataset_enlarge_ratio": 200},
            "val": {"name": "heldout", "dataroot_gt": str(test), **noisy},
        },
        "network_g": NETWORK,
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": 0, "optim_g": {"type": "Adam", "lr": 1e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [iters // 2, iters * 3 // 4], "gamma": 0.5},
                  "total_iter": iters, "warmup_iter": -1,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": iters, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 0, "test_y_channel": False}}},
        "logger": {"print_freq": 100, "save_checkpoint_freq": iters, "use_tb_logger": False},
    }


def heldout_psnr(params: dict, folder: Path) -> tuple[float, float]:
    """The network ``params``' mean PSNR on the noisy images of ``folder`` (the noise BasicSR's validation draws,
    seeded by index; scored by BasicSR's own tensor2img and calculate_psnr, as its validation does), and the noisy
    inputs' own: what doing nothing scores."""
    import wm_basicsr  # noqa: F401  (registers the dataset; BasicSR's fixes before its import)  # isort: skip
    from basicsr.archs import build_network
    from basicsr.data import build_dataset
    from basicsr.metrics import calculate_psnr
    from basicsr.utils import tensor2img

    net = build_network(dict(NETWORK)).eval()
    net.load_state_dict(params)
    data = build_dataset({"name": "v", "phase": "val", "dataroot_gt": str(folder), "type": "GaussianNoiseDataset",
                          "sigma": SIGMA, "io_backend": {"type": "disk"}})
    model, noisy = [], []
    with torch.no_grad():
        for i in range(len(data)):
            pair = data[i]
            gt = tensor2img(pair["gt"])
            model.append(calculate_psnr(tensor2img(net(pair["lq"][None])), gt, crop_border=0))
            noisy.append(calculate_psnr(tensor2img(pair["lq"]), gt, crop_border=0))
    return float(np.mean(model)), float(np.mean(noisy))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--gt-size", type=int, default=64, help="training crop side")
    ap.add_argument("--work", type=Path, default=Path("runs/denoiser"))
    ap.add_argument("--trained", type=Path, default=None, help="keep this finished experiment folder's network "
                    "instead of training one (the other options then only describe it)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    photos = colour_photos(args.data / "train", args.work / "train_colour")
    opt = options(photos.resolve(), (args.data / "test").resolve(), iters=args.iters, batch=args.batch,
                  gt_size=args.gt_size)
    exp = args.trained or train(args.work, opt)[2]
    params = torch.load(exp / "models" / "net_g_latest.pth", weights_only=True)["params"]
    psnr, noisy = heldout_psnr(params, args.data / "test")
    VICTIMS.mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in params.items()}, str(VICTIMS / f"{NAME}.safetensors"))
    test_opt = {"name": NAME, "model_type": "SRModel", "scale": 1, "num_gpu": 0, "network_g": NETWORK,
                "path": {"pretrain_network_g": f"{NAME}.pth", "param_key_g": "params", "strict_load_g": True}}
    (VICTIMS / f"{NAME}.yml").write_text(f"# The denoising victim (benchmarks/denoiser.py trained it, sigma {SIGMA}).\n"
                                         + yaml.safe_dump(test_opt, sort_keys=False))
    figures = {"train_images": len(list(photos.iterdir())), "iters": args.iters, "batch": args.batch,
               "gt_size": args.gt_size, "seconds": None if args.trained else round(time.time() - started),
               "val_psnr": psnr, "noisy_psnr": noisy, "sigma": SIGMA,
               "parameters": sum(v.numel() for v in params.values())}
    write_json(ROOT / "benchmarks" / "results" / "denoiser.json", figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
