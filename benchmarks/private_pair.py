"""A private pair (``wm train --private``) against the public one: who reads whose marks, at what fidelity.

For each held-out photo (native size and 512²) and several fresh keys: marked by the private embedder, read
by the private extractor (must be detected) and by the public, shipped one (must not be); marked by the
public embedder, read by the private extractor (for the record). Plain, after JPEG 90 and JPEG 50; one
image at a time at 1e-6. Writes ``results/private_pair.json`` and ``.md``.

Run: ``wm train --private --out runs/private --data data/train --ssim-weight 100 --steps 300`` then
``python benchmarks/private_pair.py runs/private data/test``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from fidelity import fit
from results_files import write_results
from wm_plugin.attacks import apply_edit
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.verify import DEFAULT_FPR, binomial_tail

EDITS = ("none", "jpeg90", "jpeg50")
SIZES = {"native": None, "512x512": (512, 512)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("private", help="the private weights folder")
    ap.add_argument("test_dir", type=Path)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    private, public = WatermarkCodec.from_pretrained(args.private), WatermarkCodec.from_pretrained()
    pairs = {"private marks, private reader": (private, private), "private marks, public reader": (private, public),
             "public marks, private reader": (public, private)}
    keys = [generate_key(64) for _ in range(args.keys)]
    rows, started = [], time.time()
    for path in list_images([args.test_dir]):
        photo = np.rint(read_image(path).rgb_float() * 255).astype(np.uint8)
        for size_name, size in SIZES.items():
            img = fit(photo, size)
            for key in keys:
                bits = key.carried_bits()
                for pair, (writer, reader) in pairs.items():
                    marked = np.rint(writer.embed(img.astype(np.float32) / 255, bits) * 255).astype(np.uint8)
                    row = {"image": path.name, "size": size_name, "pair": pair}
                    if writer is private and reader is private:
                        row["psnr"] = float(10 * np.log10(255**2 / np.mean((marked.astype(np.float64) - img) ** 2)))
                        row["ssim"] = float(structural_similarity(img, marked, channel_axis=2, data_range=255,
                                                                  gaussian_weights=True, sigma=1.5,
                                                                  use_sample_covariance=False))
                    for edit in EDITS:
                        logits = reader.extract([apply_edit(edit, marked).astype(np.float32) / 255])[0]
                        matches = int(((logits > 0) == bits.astype(bool)).sum())
                        row[edit] = {"bit_accuracy": matches / 64, "p_value": binomial_tail(matches, 64)}
                    rows.append(row)
    summary = {}
    for pair in pairs:
        sel = [r for r in rows if r["pair"] == pair]
        summary[pair] = {edit: {"bit_accuracy": float(np.mean([r[edit]["bit_accuracy"] for r in sel])),
                                "detected": float(np.mean([r[edit]["p_value"] <= DEFAULT_FPR for r in sel]))}
                         for edit in EDITS}
    own = [r for r in rows if "psnr" in r]
    fidelity = {"psnr": float(np.mean([r["psnr"] for r in own])), "ssim": float(np.mean([r["ssim"] for r in own])),
                "ssim_min": float(np.min([r["ssim"] for r in own]))}
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, CPU", "private": args.private,
            "keys": args.keys, "n_per_pair": len(own), "seconds": round(time.time() - started, 1)}
    lines = [f"{len(own)} marked images per pair; private marks: PSNR {fidelity['psnr']:.2f} dB, SSIM "
             f"{fidelity['ssim']:.4f} (min {fidelity['ssim_min']:.4f})", "",
             "| marks, reader | bit acc | detected at 1e-6 | JPEG 90 | JPEG 50 |", "|---|---|---|---|---|"]
    for pair, v in summary.items():
        lines.append(f"| {pair} | {v['none']['bit_accuracy']:.3f} | {v['none']['detected']:.2f} | "
                     f"{v['jpeg90']['bit_accuracy']:.3f} ({v['jpeg90']['detected']:.2f}) | "
                     f"{v['jpeg50']['bit_accuracy']:.3f} ({v['jpeg50']['detected']:.2f}) |")
    write_results(args.out, "private_pair", {"meta": meta, "fidelity": fidelity, "summary": summary, "rows": rows},
                  lines)


if __name__ == "__main__":
    main()
