"""CPU time of ``wm`` embed/extract against invisible-watermark's dwtDct and dwtDctSvd, in one run.

One photo-like image per size (512², 1920×1080, 3840×2160), uint8 in and uint8 out, 64 bits; model
loading is excluded, every timing is the median of ``--repeat`` runs after one warm-up. invisible-watermark
is a benchmark requirement only (``pip install -r benchmarks/requirements.txt``).
Writes ``results/speed_cpu.json`` and ``.md``.

Run: ``python benchmarks/speed_cpu.py``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from results_files import write_results
from wm_plugin.api import embed, extract
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import Picture, list_images, read_image, sample_images_dir
from wm_plugin.keys import generate_key

SIZES = {"512x512": (512, 512), "1920x1080": (1920, 1080), "3840x2160": (3840, 2160)}


def _median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    codec = WatermarkCodec.from_pretrained()
    key = generate_key(64)
    bits = key.carried_bits().tolist()
    photo = read_image(list_images([sample_images_dir()])[0]).pixels
    rows = []
    for name, (w, h) in SIZES.items():
        img = np.asarray(Image.fromarray(photo).resize((w, h), Image.LANCZOS))
        pic = Picture(img)
        bgr = np.ascontiguousarray(img[..., ::-1])
        row = {"size": name, "wm_embed": _median_time(lambda: embed(pic, key, codec=codec), args.repeat),
               "wm_extract": _median_time(lambda: extract([pic], codec=codec), args.repeat)}
        for method in ("dwtDct", "dwtDctSvd"):
            enc = WatermarkEncoder()
            enc.set_watermark("bits", bits)
            row[f"{method}_embed"] = _median_time(lambda: enc.encode(bgr, method), args.repeat)
            marked = enc.encode(bgr, method)
            dec = WatermarkDecoder("bits", 64)
            row[f"{method}_extract"] = _median_time(lambda: dec.decode(marked, method), args.repeat)
        row["embed_ratio_vs_dwtDct"] = row["wm_embed"] / row["dwtDct_embed"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    meta = {"date": str(date.today()), "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
            "torch": torch.__version__, "repeat": args.repeat}
    lines = ["| size | wm embed s | dwtDct embed s | dwtDctSvd embed s | wm/dwtDct | wm extract s | dwtDct extract s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['wm_embed']:.3f} | {r['dwtDct_embed']:.3f} | {r['dwtDctSvd_embed']:.3f} | "
                     f"{r['embed_ratio_vs_dwtDct']:.2f} | {r['wm_extract']:.3f} | {r['dwtDct_extract']:.3f} |")
    write_results(args.out, "speed_cpu", {"meta": meta, "rows": rows}, lines)


if __name__ == "__main__":
    main()
