"""Fidelity and robustness of the shipped watermark on held-out photos, at sizes from 256² to 1920×1080.

For every test photo, every size and several fresh keys: embed, store as 8-bit PNG, measure PSNR and SSIM
against the original, then apply each edit of ``wm_plugin.attacks.edits``, read the bits back and test them
(the sign test and the signed-rank test of ``wm_plugin.verify``, each image on its own).
Writes ``results/fidelity_<strength>dB.json`` and ``.md`` (``fidelity_spectral.*`` with ``--scheme spectral``:
the training-free spectral mark, one layout per key, at its default strength).

Run: ``python benchmarks/datasets.py data && python benchmarks/fidelity.py data/test [--scheme spectral]``
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from results_files import write_results
from wm_plugin.attacks import apply_edit, list_edits
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.spectral import SpectralCodec
from wm_plugin.verify import DEFAULT_FPR, score_image

SIZES = {"256x256": (256, 256), "512x512": (512, 512), "native": None, "1280x720": (1280, 720),
         "1920x1080": (1920, 1080)}


def fit(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize (Lanczos) to cover ``size`` = (w, h) and centre-crop to it; ``None`` keeps the image."""
    if size is None:
        return img
    w, h = size
    s = max(w / img.shape[1], h / img.shape[0])
    big = np.asarray(Image.fromarray(img).resize((max(w, round(img.shape[1] * s)), max(h, round(img.shape[0] * s))),
                                                 Image.LANCZOS))
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y : y + h, x : x + w]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test_dir", type=Path)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--psnr", type=float, default=None, help="strength (default: the codec's default)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep")
    args = ap.parse_args()

    keys = [generate_key(64, scheme=args.scheme) for _ in range(args.keys)]
    if args.scheme == "spectral":
        codecs = [SpectralCodec.for_key(k) for k in keys]
    else:
        codec = WatermarkCodec.from_pretrained(args.weights)
        if args.psnr is not None:
            codec.psnr = args.psnr
        codecs = [codec] * len(keys)
    edits = list_edits()
    rows = []
    started = time.time()
    for path in list_images([args.test_dir]):
        photo = read_image(path).rgb_float()
        photo8 = np.rint(photo * 255).astype(np.uint8)
        for size_name, size in SIZES.items():
            img = fit(photo8, size)
            for ki, (key, codec) in enumerate(zip(keys, codecs)):
                carried = key.carried_bits()
                marked = np.rint(codec.embed(img.astype(np.float32) / 255, carried) * 255).astype(np.uint8)
                mse = np.mean((marked.astype(np.float64) - img) ** 2)
                row = {
                    "image": path.name, "size": size_name, "hw": list(img.shape[:2]), "key": ki,
                    "psnr": float(10 * np.log10(255**2 / mse)),
                    "ssim": float(structural_similarity(img, marked, channel_axis=2, data_range=255,
                                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False)),
                }
                for edit in edits:
                    logits = codec.extract([apply_edit(edit, marked).astype(np.float32) / 255])[0]
                    sign, ranked = (score_image(edit, logits, carried, test) for test in ("sign", "signed-rank"))
                    row[edit] = {"bit_accuracy": sign.bit_accuracy, "p_value": sign.p_value,
                                 "p_value_signed_rank": ranked.p_value}
                rows.append(row)
        print(f"{path.name}: done ({time.time() - started:.0f}s)", flush=True)

    summary = {"by_size": {}, "by_edit": {}}
    for size_name in SIZES:
        sel = [r for r in rows if r["size"] == size_name]
        summary["by_size"][size_name] = {
            "n": len(sel), "psnr": float(np.mean([r["psnr"] for r in sel])),
            "psnr_min": float(np.min([r["psnr"] for r in sel])),
            "ssim": float(np.mean([r["ssim"] for r in sel])), "ssim_min": float(np.min([r["ssim"] for r in sel])),
            "bit_accuracy": float(np.mean([r["none"]["bit_accuracy"] for r in sel])),
            "bit_accuracy_jpeg90": float(np.mean([r["jpeg90"]["bit_accuracy"] for r in sel])),
        }
    for edit in edits:
        summary["by_edit"][edit] = {
            "bit_accuracy": float(np.mean([r[edit]["bit_accuracy"] for r in rows])),
            "detected": float(np.mean([r[edit]["p_value"] <= DEFAULT_FPR for r in rows])),
            "detected_signed_rank": float(np.mean([r[edit]["p_value_signed_rank"] <= DEFAULT_FPR for r in rows])),
        }
    summary["overall"] = {
        "n_marked_images": len(rows), "psnr": float(np.mean([r["psnr"] for r in rows])),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
    }
    meta = {"date": str(date.today()), "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
            "scheme": args.scheme, "weights": args.weights or "shipped", "keys": args.keys,
            "strength_psnr": codecs[0].psnr, "seconds": round(time.time() - started, 1)}
    stem = "fidelity_spectral" if args.scheme == "spectral" else f"fidelity_{codecs[0].psnr:g}dB"
    lines = [f"Fidelity ({len(rows)} marked images: {len(rows) // len(SIZES) // args.keys} photos × {len(SIZES)} sizes "
             f"× {args.keys} keys)", "",
             "| size | PSNR dB (min) | SSIM (min) | bit acc | bit acc JPEG 90 |", "|---|---|---|---|---|"]
    for s, v in summary["by_size"].items():
        lines.append(f"| {s} | {v['psnr']:.2f} ({v['psnr_min']:.2f}) | {v['ssim']:.4f} ({v['ssim_min']:.4f}) | "
                     f"{v['bit_accuracy']:.4f} | {v['bit_accuracy_jpeg90']:.4f} |")
    lines += ["", "| edit | bit accuracy | detected at 1e-6 (single image), sign test | the same, signed-rank test |",
              "|---|---|---|---|"]
    for e, v in summary["by_edit"].items():
        lines.append(f"| {e} | {v['bit_accuracy']:.4f} | {v['detected']:.3f} | {v['detected_signed_rank']:.3f} |")
    write_results(args.out, stem, {"meta": meta, "summary": summary, "rows": rows}, lines)


if __name__ == "__main__":
    main()
