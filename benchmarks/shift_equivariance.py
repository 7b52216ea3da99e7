"""Does a mark move with the image? cos(mark of the shifted image, the shifted mark) per shift.

A network trained on random crops of marked images (a thief's surrogate, a model trained with the flag) can
only learn the part of the mark that follows the image's content: if shifting the image by s pixels does not
shift the mark by s pixels, the crops show the network a different mark for the same content. 1.0: the mark
follows the content; 0: it is tied to the frame. Held-out photos at 512², marked through the codec at
42.5 dB (the spectral scheme at its default strength); the 40-px border is left out (edges differ).
Writes ``results/shift_equivariance.json`` and ``.md``.

Run: ``python benchmarks/shift_equivariance.py data/test [--weights DIR ...]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from results_files import write_results
from wm_plugin.api import codec_for
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key

SHIFTS = (1, 2, 4, 8, 16, 32)


def _marks(codec, images: list[np.ndarray], bits: np.ndarray, shift: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mark of the image shifted by ``shift`` px to the right, the image's mark shifted likewise), per image."""
    out = []
    for img in images:
        moved = np.roll(img, shift, axis=1)
        mark_of_moved = codec.embed(moved, bits).astype(np.float64) - moved
        moved_mark = np.roll(codec.embed(img, bits).astype(np.float64) - img, shift, axis=1)
        out.append((mark_of_moved[40:-40, 40 + shift : -40], moved_mark[40:-40, 40 + shift : -40]))
    return out


def _cos(pairs) -> float:
    return float(np.mean([(a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()) for a, b in pairs]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test_dir", type=Path)
    ap.add_argument("--weights", nargs="*", default=[], help="more weights folders to measure (learned scheme)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    from PIL import Image

    images = [np.asarray(Image.fromarray(np.rint(read_image(p).rgb_float() * 255).astype(np.uint8))
                         .resize((512, 512), Image.Resampling.BICUBIC), np.float32) / 255
              for p in list_images([args.test_dir])]
    schemes = {"learned (shipped)": (generate_key(), None), "spectral": (generate_key(scheme="spectral"), None)}
    schemes.update({f"learned ({w})": (generate_key(), w) for w in args.weights})
    rows = {}
    for name, (key, weights) in schemes.items():
        codec = codec_for(key, weights=weights)
        bits = key.carried_bits()
        rows[name] = {s: round(_cos(_marks(codec, images, bits, s)), 3) for s in SHIFTS}
        print(name, rows[name], flush=True)
    doc = {"machine": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d"),
           "images": len(images), "shifts": SHIFTS, "cosine": rows}
    lines = ["| scheme | " + " | ".join(f"shift {s} px" for s in SHIFTS) + " |", "|---|" + "---|" * len(SHIFTS)]
    lines += [f"| {name} | " + " | ".join(f"{c:.3f}" for c in row.values()) + " |" for name, row in rows.items()]
    write_results(args.out, "shift_equivariance", doc, lines)


if __name__ == "__main__":
    main()
