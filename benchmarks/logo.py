"""Logo mode (``wm keygen --logo``): NC on marked photos, and on clean images, where the logo must not appear.

Marked: the held-out photos, each marked with a key made from a generated 8×8 logo (a letter shape), read
one at a time: NC with the logo, bit accuracy, PSNR. Clean: ``--n`` clean images (crops of every photo,
procedural images, JPEG'd ones: ``false_positives.clean_images``), read against the same key: the seed
paper asks NC < 0.5 on every one. Writes ``results/logo.json`` and ``.md``.

Run: ``python benchmarks/logo.py data/train data/test --n 2000``
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from false_positives import clean_images
from results_files import write_results
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import Picture, list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.logo import logo_message
from wm_plugin.metrics import picture_psnr
from wm_plugin.verify import NC_THRESHOLD, score_image

LETTER_H = ["........", ".##..##.", ".##..##.", ".######.", ".######.", ".##..##.", ".##..##.", "........"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="photo folders; the last one is the held-out set")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    logo = np.array([[255 if c == "#" else 0 for c in row] for row in LETTER_H], np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logo.png"
        Image.fromarray(np.kron(logo, np.ones((8, 8), np.uint8))).save(path)
        key = generate_key(64, message=logo_message(path, 64))
    carried = key.carried_bits()
    codec = WatermarkCodec.from_pretrained()
    started = time.time()

    marked_rows = []
    for p in list_images([args.folders[-1]]):
        pixels = np.rint(read_image(p).rgb_float() * 255).astype(np.uint8)
        marked = codec.mark(pixels, carried)
        score = score_image(p.name, codec.extract([marked])[0], carried)
        marked_rows.append({"image": p.name, "nc": score.nc, "bit_accuracy": score.bit_accuracy,
                            "psnr": picture_psnr(Picture(pixels), Picture(marked))})

    photos = [np.rint(read_image(p).rgb_float() * 255).astype(np.uint8) for p in list_images(args.folders)]
    clean_nc = np.array([score_image("clean", codec.extract([img])[0], carried).nc
                         for img in clean_images(photos, args.n, seed=1)])
    result = {
        "meta": {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
                 "seconds": round(time.time() - started, 1)},
        "marked": marked_rows,
        "marked_min_nc": min(r["nc"] for r in marked_rows),
        "marked_min_psnr": min(r["psnr"] for r in marked_rows),
        "clean": {"n": len(clean_nc), "max_nc": float(clean_nc.max()), "mean_nc": float(clean_nc.mean()),
                  "above_0.5": int((clean_nc > 0.5).sum()),
                  f"above_{NC_THRESHOLD}": int((clean_nc > NC_THRESHOLD).sum())},
    }
    lines = ["| images | n | NC: min / mean / max | NC > 0.5 | NC > 0.95 | PSNR (min) |", "|---|---|---|---|---|---|"]
    m = np.array([r["nc"] for r in marked_rows])
    lines.append(f"| held-out photos, marked | {len(m)} | {m.min():.3f} / {m.mean():.3f} / {m.max():.3f} | "
                 f"{int((m > 0.5).sum())} | {int((m > NC_THRESHOLD).sum())} | {result['marked_min_psnr']:.2f} dB |")
    c = result["clean"]
    lines.append(f"| clean images | {c['n']} | {clean_nc.min():.3f} / {c['mean_nc']:.3f} / {c['max_nc']:.3f} | "
                 f"{c['above_0.5']} | {c[f'above_{NC_THRESHOLD}']} | |")
    write_results(args.out, "logo", result, lines)


if __name__ == "__main__":
    main()
