"""Stage 2's gain: surrogates of a protected BasicSR model, read by the stage-1 extractor and by a stage-2 one.

The surrogates here are held out from stage 2 in every way: their victim is a real protected checkpoint (not
stage 2's ideal restorer), its mark carries the owner's key (not one of stage 2's random messages), the
thief's images are ``wm eval``'s procedural ones, and an architecture may be one stage 2 never trained.
Each surrogate is trained once (``wm eval``'s attack code) and its answers to the probes are verified with
both weights folders; the plain model's surrogates are the control (they must never be detected).
Writes ``results/stage2.json`` and ``.md``.

Run (after ``wm train --stage 2 --task sr --scale 2 --out runs/stage2_sr2``)::

    python benchmarks/stage2.py --stage2 runs/stage2_sr2 --key K --protected BARRIER.yml BARRIER.pth \
        --plain PLAIN.yml PLAIN.pth --data data/test --attacks surrogate-unet-l1-1k,surrogate-srvgg-l1-1k
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from results_files import write_results
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.models import AttackSetting, apply_model_attack
from wm_plugin.codec import WatermarkCodec
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes, model_outputs, verify_outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage2", required=True, help="the stage-2 weights folder")
    ap.add_argument("--key", required=True)
    ap.add_argument("--protected", nargs=2, required=True, metavar=("OPT", "PTH"), help="the protected model")
    ap.add_argument("--plain", nargs=2, metavar=("OPT", "PTH"), help="its unprotected twin (the control)")
    ap.add_argument("--attacks", default="surrogate-unet-l1-1k,surrogate-srvgg-l1-1k")
    ap.add_argument("--data", nargs="*", default=None, help="probe inputs (default: the bundled samples)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.manual_seed(0)

    key = load_key(args.key)
    readers = {"stage 1 (shipped)": WatermarkCodec.from_pretrained(device=args.device),
               "stage 2": WatermarkCodec.from_pretrained(args.stage2, device=args.device)}
    adapter = load_adapter("basicsr")
    rows = []
    for victim, spec in (("protected", args.protected), ("plain", args.plain)):
        if spec is None:
            continue
        opt, pth = spec
        model = adapter.load_model(pth, config=opt, device=args.device)
        inputs = adapter_probes(adapter, opt, args.data)
        names = [n for n, _ in inputs]
        scale = round(model_outputs(lambda x: adapter.run(model, x), inputs[:1], device=args.device,
                                    progress=False)[0].shape[0] / inputs[0][1].shape[0])
        for attack in args.attacks.split(","):
            start = time.perf_counter()
            surrogate = apply_model_attack(attack, model, AttackSetting.for_model(scale))
            seconds = time.perf_counter() - start
            outs = model_outputs(lambda x: adapter.run(surrogate, x), inputs, device=args.device, progress=False)
            for reader, codec in readers.items():
                v = verify_outputs(names, outs, key, codec=codec)
                rows.append({"victim": victim, "attack": attack, "reader": reader, "detected": v.detected,
                             "p_value": v.p_value, "bit_accuracy": v.bit_accuracy,
                             "images_detected": v.n_images_detected, "n_images": v.n_images, "train_seconds": seconds})
                print(json.dumps(rows[-1]), flush=True)

    doc = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
           "date": time.strftime("%Y-%m-%d"), "stage2": args.stage2, "key_fingerprint": key.fingerprint,
           "protected": args.protected, "plain": args.plain, "results": rows}
    lines = ["| victim → surrogate | reader | bit accuracy | p-value | verdict at 1e-6 | probes detected alone |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['victim']} → {r['attack']} | {r['reader']} | {r['bit_accuracy']:.3f} | "
                     f"{r['p_value']:.2g} | {'detected' if r['detected'] else 'not detected'} | "
                     f"{r['images_detected']}/{r['n_images']} |")
    write_results(args.out, "stage2", doc, lines)


if __name__ == "__main__":
    main()
