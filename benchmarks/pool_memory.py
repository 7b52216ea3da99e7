"""Memory of a training pool: a folder of DIV2K-size photos read for a thief (``wm eval --attack-data``) or an
implant (``wm protect --data``), and the ``RandomCrops`` that draws batches from it.

Each way of reading runs in a fresh process; the figures are its resident memory after the reading and the
first batch (held: what training keeps) and its peak meanwhile, over its resident memory before (Python and
torch excluded; Linux's /proc). Photos: ``--n`` procedural 8-bit PNGs of 2040×1356
(DIV2K's common size), written to a temporary folder.

Run: ``python benchmarks/pool_memory.py`` (writes benchmarks/results/pool_memory.{json,md}).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from results_files import write_results

RESULTS = Path(__file__).parent / "results"
SIZE = (2040, 1356)
READERS = {"read_images (float32)": "read_images", "read_images_compact (8-bit as uint8)": "read_images_compact"}
CHILD = """
import sys
import wm_plugin.io as io
from wm_plugin.crops import RandomCrops
def kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))
before = kib("VmRSS")
pool = RandomCrops(getattr(io, sys.argv[1])([sys.argv[2]]), 96, 8)
pool.next()
print(kib("VmRSS") - before, kib("VmHWM") - before)
"""


def pool_growth_mib(reader: str, folder: Path) -> tuple[float, float]:
    """(held, peak): what a fresh process that reads ``folder`` with ``wm_plugin.io``'s ``reader`` and draws one
    batch of 96-px crops from it holds after, and its peak while doing so, over its resident memory before; MiB."""
    res = subprocess.run([sys.executable, "-c", CHILD, reader, str(folder)], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{reader} failed: {res.stderr[-1500:]}")
    held, peak = res.stdout.split()[-2:]
    return int(held) / 1024, int(peak) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="how many photos")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
        for i in range(args.n):
            pixels = np.stack([(x + i) % 256, (y * 3) % 256, (x + y) % 256], -1).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:04d}.png")
        rows = [{"reader": name, **dict(zip(("held_mib", "peak_mib"), map(round, pool_growth_mib(reader, folder))))}
                for name, reader in READERS.items()]
    for row in rows:
        print(json.dumps(row))
    pixels_mib = round(args.n * SIZE[0] * SIZE[1] * 3 / 2**20)
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
           "photos": args.n, "size": list(SIZE), "pixels_mib": pixels_mib, "rows": rows}
    md = [f"| {args.n} photos of {SIZE[0]}×{SIZE[1]} ({pixels_mib} MiB of 8-bit pixels) | held | peak |",
          "|---|---|---|"]
    md += [f"| {r['reader']} | {r['held_mib']} MiB | {r['peak_mib']} MiB |" for r in rows]
    write_results(RESULTS, "pool_memory", doc, md)


if __name__ == "__main__":
    main()
