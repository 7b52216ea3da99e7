"""How often a clean read-back misses a bit, over many keys: the held-out photos at one size, marked with
each of N seeded random messages, stored as 8-bit PNG, read back plain and after JPEG 90.

The fidelity table uses a few fresh keys; a bit that a few messages leave weak (the other carriers' crosstalk
outweighs its own) shows up there as noise from run to run. Here every setting sees the same messages.
Appends a row to ``results/key_scan.jsonl``.

Run: ``python benchmarks/key_scan.py data/test [--weights DIR] [--psnr DB] [--keys 60] [--size 512]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

from fidelity import fit
from results_files import append_row
from wm_plugin.attacks import apply_edit
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test_dir", type=Path)
    ap.add_argument("--weights", default=None, help="weights folder (default: shipped)")
    ap.add_argument("--psnr", type=float, default=None, help="strength (default: the codec's default)")
    ap.add_argument("--keys", type=int, default=60)
    ap.add_argument("--size", type=int, default=512, help="side of the square the photos are fitted to")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "key_scan.jsonl")
    args = ap.parse_args()

    codec = WatermarkCodec.from_pretrained(args.weights)
    if args.psnr is not None:
        codec.psnr = args.psnr
    photos = [fit(np.rint(read_image(p).rgb_float() * 255).astype(np.uint8), (args.size, args.size))
              for p in list_images([args.test_dir])]
    rng = np.random.default_rng(0)  # the same messages for every setting
    started = time.time()
    wrong, wrong_jpeg = [], []
    for _ in range(args.keys):
        bits = rng.integers(0, 2, codec.bits).astype(np.uint8)
        marked = [np.rint(codec.embed(p.astype(np.float32) / 255, bits) * 255).astype(np.uint8) for p in photos]
        for store, edit in ((wrong, "none"), (wrong_jpeg, "jpeg90")):
            logits = codec.extract([apply_edit(edit, m).astype(np.float32) / 255 for m in marked])
            store.append(int(((logits > 0) != bits.astype(bool)).sum()))
    n_bits = args.keys * len(photos) * codec.bits
    row = {
        "label": args.label, "weights": args.weights or "shipped", "psnr": codec.psnr, "size": args.size,
        "keys": args.keys, "images_per_key": len(photos),
        "keys_with_a_wrong_bit": int(np.count_nonzero(wrong)), "bit_accuracy": 1 - sum(wrong) / n_bits,
        "bit_accuracy_jpeg90": 1 - sum(wrong_jpeg) / n_bits,
        "date": str(date.today()), "machine": platform.processor() or platform.machine(),
        "seconds": round(time.time() - started, 1),
    }
    append_row(args.out, row)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
