"""Does ``wm verify --model`` ever accuse a clean model? Many clean models × many probes, against one key.

Clean models: BasicSR architectures (RRDBNet, MSRResNet, SRVGGNetCompact, EDSR, SwinIR, RCAN) at ×2 and
several seeds, plus, when their runs exist, the trained clean models of the other benchmarks (the demo
model, the flag-off MSRResNet and the flag-off MMagic EDSR). Each is run on the same probe inputs (crops
of the held-out and training photos) and its outputs verified against the owner's key, exactly as
``wm verify --model`` does (``wm_plugin.probe.verify_model``). Figures: how many models are "detected"
at the default target (must be 0), the smallest p-value, and the share of models and of single images
whose p-value falls under each level (a valid test stays at or below the diagonal).

``--trigger`` does the same for ``wm verify --model --trigger`` (``wm_plugin.probe.verify_triggered``: each probe
asked plain and with the key's trigger, the signed-rank test on the response read), against ``--keys`` fresh keys
per model; it writes ``calibration_trigger.{json,md}``.

Run: ``python benchmarks/calibration.py data --models 24 --probes 100 --runs runs``
(writes benchmarks/results/calibration.{json,md}).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import wm_basicsr  # noqa: F401  (before basicsr)  # isort: skip
from basicsr.archs import build_network
from PIL import Image

from results_files import write_results
from wm_plugin import WatermarkCodec
from wm_plugin.adapters import load_adapter
from wm_plugin.keys import generate_key
from wm_plugin.probe import verify_model, verify_triggered
from wm_plugin.verify import DEFAULT_FPR

RESULTS = Path(__file__).parent / "results"
LEVELS = (1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.25, 0.5)
ARCHS = [
    {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_block": 2, "num_grow_ch": 8, "scale": 2},
    {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_block": 2, "upscale": 2},
    {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_conv": 4, "upscale": 2},
    {"type": "EDSR", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_block": 2, "upscale": 2},
    {"type": "SwinIR", "upscale": 2, "in_chans": 3, "img_size": 32, "window_size": 8, "img_range": 1.0,
     "depths": [2], "embed_dim": 16, "num_heads": [2], "mlp_ratio": 2, "upsampler": "pixelshuffledirect"},
    {"type": "RCAN", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_group": 1, "num_block": 2, "upscale": 2},
]
TRAINED = [  # (label, framework, config, checkpoint); "{repo}" is this repository, "{runs}" the --runs folder
    ("demo SRVGGNetCompact x2 (trained)", "basicsr", "{repo}/adapters/wm_basicsr/demo/srvgg_x2.yml",
     "{repo}/adapters/wm_basicsr/demo/srvgg_x2.pth"),
    ("MSRResNet x2, flag off (trained)", "basicsr", "{runs}/basicsr_absorb/msrresnet_x2_plain.yml",
     "{runs}/basicsr_absorb/experiments/msrresnet_x2_plain/models/net_g_latest.pth"),
    ("MMagic EDSR x2, flag off (trained)", "mmagic", "{runs}/mmagic_edsr/edsr_x2_plain.py",
     "{runs}/mmagic_edsr/work_dirs/edsr_x2_plain/iter_400.pth"),
    # the flag-off twins of the trigger-mode runs (basicsr_absorb.py / mmagic_edsr.py --mode trigger)
    ("MSRResNet x2, trigger run's flag off (trained)", "basicsr",
     "{runs}/basicsr_absorb/msrresnet_x2_plain_trigger.yml",
     "{runs}/basicsr_absorb/experiments/msrresnet_x2_plain_trigger/models/net_g_latest.pth"),
    ("MMagic EDSR x2, trigger run's flag off (trained)", "mmagic", "{runs}/mmagic_edsr/edsr_x2_plain_trigger.py",
     "{runs}/mmagic_edsr/work_dirs/edsr_x2_plain_trigger/iter_2000.pth"),
]


def probes(data: Path, n: int, size: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` random ``size``² crops of the photos in ``data/test`` and ``data/train`` (H×W×3 in [0, 1])."""
    rng = np.random.default_rng(seed)
    photos = [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
              for p in sorted((data / "test").iterdir()) + sorted((data / "train").iterdir())]
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        y, x = rng.integers(0, im.shape[0] - size + 1), rng.integers(0, im.shape[1] - size + 1)
        out.append((f"crop{i}", im[y : y + size, x : x + size]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the folder benchmarks/datasets.py wrote (train/, test/)")
    ap.add_argument("--models", type=int, default=24, help="random-weight models (architectures × seeds)")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--size", type=int, default=96, help="probe input side (outputs are twice that)")
    ap.add_argument("--runs", default="runs", help="where basicsr_absorb.py and mmagic_edsr.py left their runs")
    ap.add_argument("--trigger", action="store_true", help="verify as `wm verify --trigger` does")
    ap.add_argument("--keys", type=int, default=1, help="fresh keys each model is verified against")
    args = ap.parse_args()
    torch.set_num_threads(2)
    codec, inputs = WatermarkCodec.from_pretrained(), probes(args.data, args.probes, args.size)
    keys = [generate_key(64) for _ in range(args.keys)]
    where = {"repo": str(Path(__file__).parent.parent), "runs": args.runs}
    models = []
    for i in range(args.models):
        arch = dict(ARCHS[i % len(ARCHS)])
        torch.manual_seed(1000 + i)
        net = build_network(arch).eval()
        models.append((f"{arch['type']} x2, seed {1000 + i} (random weights)", lambda x, net=net: net(x).clamp(0, 1)))
    for label, framework, config, ckpt in TRAINED:
        config, ckpt = config.format(**where), ckpt.format(**where)
        if Path(ckpt).is_file() and Path(config).is_file():
            adapter = load_adapter(framework)
            net = adapter.load_model(ckpt, config=config)
            models.append((label, lambda x, adapter=adapter, net=net: adapter.run(net, x)))
    rows, image_p = [], []
    started = time.time()
    for (label, run), (i, key) in itertools.product(models, enumerate(keys)):
        with torch.no_grad():
            if args.trigger:
                v = verify_triggered(run, inputs, key, progress=False)[0]
            else:
                v = verify_model(run, inputs, key, codec=codec, progress=False)
        image_p += [img["p_value"] for img in v.to_dict()["images"]]
        rows.append({"model": label, "key": i, "detected": v.detected, "p_value": v.p_value,
                     "bit_accuracy": v.bit_accuracy, "images_detected": v.n_images_detected, "method": v.method})
        print(json.dumps(rows[-1]))
    model_p = np.array([r["p_value"] for r in rows])
    image_p = np.array(image_p)
    doc = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
        "mode": "trigger" if args.trigger else "outputs", "keys_per_model": args.keys,
        "fpr_target": DEFAULT_FPR, "n_models": len(rows), "n_probes": args.probes,
        "seconds": round(time.time() - started), "models_detected": int(sum(r["detected"] for r in rows)),
        "images_detected": int(sum(r["images_detected"] for r in rows)), "min_model_p": float(model_p.min()),
        "share_models_p_below": {str(a): float(np.mean(model_p <= a)) for a in LEVELS},
        "share_images_p_below": {str(a): float(np.mean(image_p <= a)) for a in LEVELS}, "rows": rows,
    }
    name = "calibration_trigger" if args.trigger else "calibration"
    how = (f"{len(models)} clean models × {args.keys} key(s), {args.probes} probes"
           + (", trigger" if args.trigger else ""))
    md = [f"Calibration: {how} ({args.size}² inputs), target {DEFAULT_FPR:g}",
          "", f"model verdicts detected (one per model and key): {doc['models_detected']} / {doc['n_models']}; single "
          f"images detected: {doc['images_detected']} / {doc['n_models'] * args.probes}; smallest model p-value: "
          f"{doc['min_model_p']:.3g}", "",
          "| share with p ≤ | " + " | ".join(f"{a:g}" for a in LEVELS) + " |", "|---|" + "---|" * len(LEVELS),
          "| model verdicts | " + " | ".join(f"{doc['share_models_p_below'][str(a)]:.3f}" for a in LEVELS) + " |",
          "| single images | " + " | ".join(f"{doc['share_images_p_below'][str(a)]:.4f}" for a in LEVELS) + " |"]
    write_results(RESULTS, name, doc, md)


if __name__ == "__main__":
    main()
