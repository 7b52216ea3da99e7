"""Summarize a stage-1 run's ``log.jsonl``: the validation figures as training went, as a Markdown table.

Run: ``python benchmarks/training_log.py RUN_DIR`` (prints; BENCHMARKS.md quotes it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = ["val_acc", "val_acc_jpeg90", "val_acc_jpeg50", "val_acc_large", "val_acc_clean", "val_psnr", "val_ssim"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    rows = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines()]
    print("| step | minutes | " + " | ".join(c.removeprefix("val_") for c in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for r in rows:
        if "val_acc" in r:
            when = "calibrated" if r.get("calibrated") else f"{r['seconds'] / 60:.0f}"
            print(f"| {r['step']} | {when} | " + " | ".join(f"{r.get(c, float('nan')):.4f}" for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
