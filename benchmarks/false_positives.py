"""False positives of the shipped extractor on clean images: the count of "detected" verdicts and how
uniform the p-values are.

Clean images: random crops (64 px to the whole photo, random scale) of every photo that ships in the
packages (training and test folders), procedural images, and JPEG versions of some of them; R reads each
once. Each reading is tested against (a) one fixed key for all images, (b) a fresh key per image. Under the
null hypothesis P(p ≤ a) ≤ a for every a (binomial p-values are discrete, hence ≤ rather than =).
Writes ``results/false_positives.json`` and ``.md`` (``false_positives_spectral.*`` with ``--scheme spectral``,
where a fresh key also means a fresh frequency layout, so each image is read again with its own key).

Run: ``python benchmarks/false_positives.py data/train data/test --n 10000 [--scheme spectral]``
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.spectral import SpectralCodec
from wm_plugin.train.procedural import procedural_image
from wm_plugin.verify import DEFAULT_FPR, binomial_tail

LEVELS = (1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5)


def clean_images(photos: list[np.ndarray], n: int, seed: int):
    """Yield ``n`` clean uint8 images: crops of photos (80%) and procedural images (20%), a third JPEG'd."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        if rng.random() < 0.8:
            p = photos[rng.integers(len(photos))]
            h, w = p.shape[:2]
            side_h = int(rng.integers(min(64, h), h + 1))
            side_w = int(np.clip(side_h * rng.uniform(0.5, 2.0), min(64, w), w))
            y, x = rng.integers(0, h - side_h + 1), rng.integers(0, w - side_w + 1)
            img = p[y : y + side_h, x : x + side_w]
        else:
            img = np.rint(procedural_image(rng, int(rng.choice([64, 128, 256]))) * 255).astype(np.uint8)
        if rng.random() < 1 / 3:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=int(rng.integers(50, 96)))
            img = np.asarray(Image.open(buf).convert("RGB"))
        yield img


def summarize(ps: np.ndarray) -> dict:
    return {
        "n": int(len(ps)),
        "detected_at_1e-6": int((ps <= DEFAULT_FPR).sum()),
        "min_p": float(ps.min()),
        "share_at_or_below": {str(a): float((ps <= a).mean()) for a in LEVELS},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    spectral = args.scheme == "spectral"
    fixed_key = generate_key(64, scheme=args.scheme)
    codec = SpectralCodec.for_key(fixed_key) if spectral else WatermarkCodec.from_pretrained(args.weights)
    photos = [np.rint(read_image(p).rgb_float() * 255).astype(np.uint8) for p in list_images(args.folders)]
    started = time.time()
    logits, batch, fresh_reads = [], [], []
    rng = np.random.default_rng(args.seed + 1)
    for img in clean_images(photos, args.n, args.seed):
        batch.append(codec.shrink(img.astype(np.float32) / 255))
        if spectral:  # a fresh key is a fresh layout: read the image again with it
            fresh_reads.append(SpectralCodec.for_key(generate_key(64, scheme="spectral")).extract([img])[0] > 0)
        if len(batch) == 64:
            logits.append(codec.read(torch.stack(batch)))
            batch = []
    if batch:
        logits.append(codec.read(torch.stack(batch)))
    logits = np.concatenate(logits)
    reads = logits > 0

    fixed = fixed_key.carried_bits().astype(bool)
    p_fixed = np.array([binomial_tail(int((r == fixed).sum()), codec.bits) for r in reads])
    fresh = rng.integers(0, 2, reads.shape).astype(bool)
    p_fresh = np.array([binomial_tail(int((r == k).sum()), codec.bits)
                        for r, k in zip(fresh_reads if spectral else reads, fresh)])
    bias = reads.mean(axis=0)
    result = {
        "meta": {"date": str(date.today()), "machine": platform.machine(), "n": args.n, "seed": args.seed,
                 "scheme": args.scheme, "weights": args.weights or "shipped", "seconds": round(time.time() - started, 1)},
        "fixed_key": summarize(p_fixed),
        "fresh_key_per_image": summarize(p_fresh),
        "extractor_bit_bias": {"mean_share_of_ones": float(bias.mean()), "most_biased_bit_share": float(np.abs(bias - 0.5).max() + 0.5)},
        "clean_mean_abs_logit": float(np.abs(logits).mean()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "false_positives" + ("_spectral" if spectral else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    lines = [f"False positives of the {args.scheme} scheme on {args.n} clean images (detected at 1e-6, and share of p-values ≤ a)", "",
             "| key | detected | " + " | ".join(f"≤{a:g}" for a in LEVELS) + " |", "|---|---|" + "---|" * len(LEVELS)]
    for name in ("fixed_key", "fresh_key_per_image"):
        s = result[name]
        lines.append(f"| {name.replace('_', ' ')} | {s['detected_at_1e-6']} | " + " | ".join(f"{s['share_at_or_below'][str(a)]:.4f}" for a in LEVELS) + " |")
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
