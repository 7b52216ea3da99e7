"""Does subtracting the original model's reading sharpen the verdict on a surrogate? Surrogates saved by
``wm eval --checkpoints`` are run on the probes and verified two ways: as ``wm verify`` does, and on each probe's
reading less the reading of the owner's unprotected model's answer to the same probe.

The second reading would take out each bit's offset on the probes' content, which the verdict otherwise has to
outvote (``spectral_floor.py --counts``); it is still an exact test, as neither model depends on the key. What it
cannot take out is what the surrogate changes in the spectrum by itself.

Run: ``python benchmarks/reference_reading.py --opt .gpu/models/denoise_plain.yml --model
.gpu/models/denoise_plain.pth --key .gpu/models/owner.key --probes data/probes_x1_noise25 --out
benchmarks/results/reference_reading_denoise.json CHECKPOINTS/denoise_barrier/surrogate-resnet9-ssim-4k.pt ...``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from results_files import write_json
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.surrogate import build_surrogate
from wm_plugin.checkpoint import load_checkpoint
from wm_plugin.keys import load_key
from wm_plugin.metrics import picture_psnr
from wm_plugin.probe import as_picture, model_outputs, run_suspect
from wm_plugin.spectral import SpectralCodec
from wm_plugin.verify import verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("states", nargs="+", help="surrogate training states written by wm eval --checkpoints")
    ap.add_argument("--opt", required=True, help="the unprotected model's BasicSR options file")
    ap.add_argument("--model", required=True, help="the unprotected model's checkpoint (the reference)")
    ap.add_argument("--key", required=True, help="the owner's spectral key")
    ap.add_argument("--probes", required=True, help="probe inputs")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    key = load_key(args.key)
    reader, carried = SpectralCodec.for_key(key), key.carried_bits()
    inputs, reference = run_suspect(load_adapter("basicsr"), args.model, config=args.opt, data=[args.probes],
                                    progress=False)
    names = [n for n, _ in inputs]
    reference = [as_picture(a) for a in reference]
    offsets = reader.extract([p.pixels for p in reference])
    rows = []
    for path in args.states:
        state = load_checkpoint(path)
        net = build_surrogate(state["run"]["arch"], state["run"]["scale"])
        net.load_state_dict(state["parts"]["net"])
        answers = [as_picture(a) for a in model_outputs(net.eval(), inputs, progress=False)]
        logits = reader.extract([p.pixels for p in answers])
        row = {"state": path, "step": state["step"], "arch": state["run"]["arch"], "loss": state["run"]["loss"],
               "psnr_vs_reference": sum(map(picture_psnr, answers, reference)) / len(names)}
        for label, read in (("plain", logits), ("less_reference", logits - offsets)):
            v = verdict(names, read, carried)
            row[label] = {"bit_accuracy": v.bit_accuracy, "voted_bits": v.matches, "p_value": v.p_value,
                          "detected": v.detected}
        rows.append(row)
        print(row, flush=True)
    write_json(args.out, {"date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
                          "reference": args.model, "probes": args.probes, "n_probes": len(names), "rows": rows})


if __name__ == "__main__":
    main()
