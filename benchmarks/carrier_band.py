"""How much a thief's images hold in the trigger's carrier band: chroma at the highest frequency, in the model's inputs.

The trigger (``wm_plugin.trigger``) is a chroma checkerboard, 4/255 high on average (0.8–7.2/255 as its envelope
varies). A thief fine-tuning on images whose inputs hold the same pattern trains the model's answer to it, and with
it the owner's response (BENCHMARKS.md, "The thief's images decide"). For each set of clean images, the inputs of the
×``--scale`` super-resolution task (bicubic downscaling, as ``wm eval``'s thief makes them) are split into luma and
chroma; the chroma is demodulated by the checkerboard and averaged over 4×4 blocks, which gives the local height of
the checkerboard in each colour channel, in /255 as the trigger's is given. Reported: the mean over blocks and
channels, and the 99th percentile.

Run: ``python benchmarks/carrier_band.py --set photos=data/train/gt``. The procedural images that are ``wm eval``'s
default thief data are always measured; writes ``benchmarks/results/carrier_band.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from results_files import write_results
from wm_plugin.attacks.tasks import degrade, procedural_clean
from wm_plugin.io import read_images
from wm_plugin.trigger import checkerboard

RESULTS = Path(__file__).parent / "results"


def carrier_band_heights(image: np.ndarray, scale: int) -> np.ndarray:
    """The local height (/255) of the chroma checkerboard in the ×``scale`` task input of ``image`` (H×W×3 in [0, 1]),
    one value per 4×4 block and colour channel."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    h, w = x.shape[2] // scale * scale, x.shape[3] // scale * scale
    lq = degrade(x[:, :, :h, :w], "sr", scale=scale) if scale > 1 else x
    chroma = lq - lq.mean(1, keepdim=True)
    return (F.avg_pool2d(chroma * checkerboard(*chroma.shape[2:]), 4).abs() * 255).flatten().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=DIR", help="a set of clean images")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    sets = {"procedural (wm eval's default thief data)": procedural_clean()}
    for item in args.set:
        name, _, folder = item.partition("=")
        sets[name] = read_images([folder])
    rows, lines = [], [f"| images (×{args.scale} inputs) | n | mean height /255 | 99th percentile /255 |",
                       "|---|---|---|---|"]
    for name, images in sets.items():
        heights = np.concatenate([carrier_band_heights(im, args.scale) for im in images])
        row = {"set": name, "n": len(images), "mean": float(heights.mean()), "p99": float(np.percentile(heights, 99))}
        rows.append(row)
        lines.append(f"| {name} | {row['n']} | {row['mean']:.3f} | {row['p99']:.2f} |")
    doc = {"scale": args.scale, "trigger_carrier_height": "4/255 (0.8-7.2/255)", "sets": rows,
           "date": time.strftime("%Y-%m-%d")}
    write_results(args.out, "carrier_band", doc, lines)


if __name__ == "__main__":
    main()
