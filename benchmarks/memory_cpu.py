"""Peak memory of ``wm embed`` and ``wm verify`` on one 4K and one 8K image, on the CPU, whole process.

Each command runs in a fresh process (``python -m wm_cli``); its peak resident memory is the child's
``ru_maxrss``, so it counts everything: Python, torch, the model, PNG decoding and encoding.
Images: scikit-image's astronaut photo enlarged (bicubic) to 3840×2160 and 7680×4320.

Run: ``python benchmarks/memory_cpu.py`` (writes benchmarks/results/memory_cpu.{json,md}).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from skimage import data

from results_files import write_results

RESULTS = Path(__file__).parent / "results"
SIZES = {"4K": (3840, 2160), "8K": (7680, 4320)}


def peak_mib(args: list[str]) -> tuple[float, float]:
    """(peak MiB, seconds) of ``python -m wm_cli ARGS`` in a fresh process (the run's own child only)."""
    started = time.perf_counter()
    code = ("import resource, subprocess, sys; r = subprocess.run([sys.executable, '-m', 'wm_cli', *sys.argv[1:]]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "sys.exit(r.returncode if r.returncode > 1 else 0)")
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"wm {' '.join(args)} failed: {res.stderr[-1500:]}")
    return int(res.stdout.split()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "wm_cli", "keygen", "-o", str(tmp / "k.key")], check=True,
                       capture_output=True)
        for name, size in SIZES.items():
            src = tmp / f"{name}.png"
            Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC).save(src)
            embed = peak_mib(["embed", "--key", str(tmp / "k.key"), str(src), "-o", str(tmp / "out")])
            verify = peak_mib(["verify", "--key", str(tmp / "k.key"), "--outputs", str(tmp / "out" / src.name)])
            rows.append({"image": f"{name} ({size[0]}×{size[1]})", "embed_peak_mib": round(embed[0]),
                         "embed_seconds": round(embed[1], 1), "verify_peak_mib": round(verify[0]),
                         "verify_seconds": round(verify[1], 1)})
            print(json.dumps(rows[-1]))
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"), "rows": rows}
    md = ["| image | `wm embed` peak | time | `wm verify` peak | time |", "|---|---|---|---|---|"]
    md += [f"| {r['image']} | {r['embed_peak_mib']} MiB | {r['embed_seconds']} s | {r['verify_peak_mib']} MiB | "
           f"{r['verify_seconds']} s |" for r in rows]
    write_results(RESULTS, "memory_cpu", doc, md)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
