"""Trigger mode, measured: does a model fine-tuned by ``implant_trigger`` mark triggered inputs only?

For a BasicSR checkpoint (default: the bundled SRVGGNetCompact ×2 of ``wm demo``), a fresh spectral key,
``implant_trigger`` for ``--steps`` steps; then, on the bundled photos ÷ 2: the protected model's answers to
triggered probes (should be detected), to plain probes (should not, and stay close to the original's), and
the original model's answers to triggered probes (must not be detected).

Run: ``python benchmarks/trigger.py --steps 600`` (``--opt``/``--checkpoint`` for another BasicSR model).
Appends a row to ``benchmarks/results/trigger.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)

from wm_plugin.absorb import implant_trigger
from wm_plugin.adapters import load_adapter
from wm_plugin.api import codec_for
from wm_plugin.flag import WatermarkFlag
from wm_plugin.keys import generate_key
from wm_plugin.metrics import picture_psnr
from wm_plugin.probe import adapter_probes, as_picture, model_outputs, verify_outputs
from wm_plugin.protect import absorb_inputs
from wm_plugin.trigger import Trigger

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    adapter = load_adapter("basicsr")
    demo_checkpoint, demo_opt = adapter.demo_model()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default=demo_opt)
    ap.add_argument("--checkpoint", default=demo_checkpoint)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--extractor-weight", type=float, default=0.1)
    ap.add_argument("--amplitude", type=float, default=4, help="the trigger's height, in 1/255")
    ap.add_argument("--trainable", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    key = generate_key(64, scheme="spectral")
    trigger = Trigger.for_key(key, amplitude=args.amplitude / 255)
    scale = adapter.model_scale(args.opt)
    original = adapter.load_model(args.checkpoint, config=args.opt)
    model = adapter.load_model(args.checkpoint, config=args.opt)
    start = time.time()
    implant_trigger(model, absorb_inputs(scale), WatermarkFlag(key, "benchmark", extractor_weight=args.extractor_weight),
                    trigger, steps=args.steps, lr=args.lr, scale=scale, trainable=args.trainable, progress=False)
    seconds = time.time() - start
    probes = adapter_probes(adapter, args.opt)
    triggered = [(n, trigger.apply_array(x)) for n, x in probes]
    names, codec = [n for n, _ in probes], codec_for(key)

    def answers(net, inputs):
        return model_outputs(lambda x: adapter.run(net, x), inputs, progress=False)

    def verdict(outs):
        v = verify_outputs(names, outs, key, codec=codec)
        return {"detected": v.detected, "p_value": v.p_value, "bit_accuracy": v.bit_accuracy}

    plain_before, plain_after = answers(original, probes), answers(model, probes)
    row = {"opt": args.opt, "steps": args.steps, "lr": args.lr, "extractor_weight": args.extractor_weight,
           "amplitude": args.amplitude, "trainable": args.trainable, "train_seconds": round(seconds, 1),
           "psnr_plain_vs_original": float(np.mean([picture_psnr(as_picture(a), as_picture(b))
                                                    for a, b in zip(plain_before, plain_after)])),
           "protected_triggered": verdict(answers(model, triggered)), "protected_plain": verdict(plain_after),
           "original_triggered": verdict(answers(original, triggered)),
           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU", "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "trigger.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
