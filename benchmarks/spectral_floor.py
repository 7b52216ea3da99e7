"""How faint a spectral mark does verification still catch? A plain model's answers on the probes, marked with
the key at a fraction of the barrier's strength, rounded to 8 bits as served answers are, then verified as
`wm verify` would (the set, and each answer alone).

A surrogate that has learned part of the marking filter emits about that: its answers carry the mark at some
fraction of its strength. This says how large a fraction the verdict needs, so a surrogate's reading can be put
in those terms ("it carries less than 1/8 of the mark"). ``--counts`` verifies the first N probes for each N too:
how the fraction the verdict needs falls as the owner sends more probes.

Run: ``python benchmarks/spectral_floor.py --opt .gpu/models/denoise_plain.yml --model .gpu/models/denoise_plain.pth
--key .gpu/models/owner.key --probes data/probes_x1_noise25 --out benchmarks/results/spectral_floor_denoise.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from results_files import write_json
from wm_plugin.adapters import load_adapter
from wm_plugin.keys import load_key
from wm_plugin.probe import as_picture, run_suspect
from wm_plugin.spectral import DEFAULT_STRENGTH, SpectralCodec
from wm_plugin.verify import verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True, help="the plain model's BasicSR options file")
    ap.add_argument("--model", required=True, help="the plain model's checkpoint")
    ap.add_argument("--key", required=True, help="a spectral owner key")
    ap.add_argument("--probes", required=True, help="probe inputs")
    ap.add_argument("--fractions", default="0,0.03125,0.0625,0.125,0.25,0.5,1",
                    help="shares of the barrier's strength (0: the plain answers, the control)")
    ap.add_argument("--counts", default=None, help="numbers of probes to verify, the first N of them (default: all)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    key = load_key(args.key)
    inputs, answers = run_suspect(load_adapter("basicsr"), args.model, config=args.opt, data=[args.probes],
                                  progress=False)
    names, plain = [n for n, _ in inputs], [as_picture(a) for a in answers]
    reader = SpectralCodec.for_key(key)  # reading does not depend on the strength
    carried = key.carried_bits()
    counts = [int(n) for n in args.counts.split(",")] if args.counts else [len(names)]
    rows = []
    for fraction in map(float, args.fractions.split(",")):
        codec = SpectralCodec.for_key(key, strength=fraction * DEFAULT_STRENGTH) if fraction else None
        marked = [codec.mark(p.pixels, carried) if codec else p.pixels for p in plain]
        extracted = reader.extract(marked)
        diffs = [p.pixels.astype(float) - m for p, m in zip(plain, marked)]
        mse = np.mean([np.mean(d**2) for d in diffs])
        for n in counts:
            v = verdict(names[:n], extracted[:n], carried)
            rows.append({"fraction": fraction, "strength": fraction * DEFAULT_STRENGTH, "n_probes": n,
                         # over the whole set; None: 8-bit rounding left every pixel as it was
                         "psnr_db": float(10 * np.log10(255**2 / mse)) if mse else None,
                         "pixels_changed": float(np.mean([np.mean(d != 0) for d in diffs])),
                         "bit_accuracy": v.bit_accuracy, "voted_bits": v.matches, "p_value": v.p_value,
                         "detected": v.detected, "detected_alone": v.n_images_detected / v.n_images})
            print(rows[-1], flush=True)
    doc = {"date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(), "model": args.model,
           "probes": args.probes, "n_probes": len(names), "rows": rows}
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
