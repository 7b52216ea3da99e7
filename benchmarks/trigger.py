"""Trigger mode, measured: does a model fine-tuned by ``implant_trigger`` answer its owner's trigger, and only
that, and does it still after the thief's attacks on its weights?

For a BasicSR checkpoint (default: the bundled SRVGGNetCompact ×2 of ``wm demo``) and a key (fresh, or ``--key``),
``implant_trigger`` for ``--steps`` steps; then, on the probe images (the bundled photos ÷ scale, or ``--data``):
the protected model's response to the key's trigger (should be detected), its plain answers read by the key's
ordinary reader (should not be, and stay close to the original's), its response to a stranger's trigger and the
original model's response to the key's trigger (must not be detected). With ``--attacks`` (``wm eval``'s names:
finetune5k, lora5k, prune30, ...) each attack is applied to the protected model and to the original (the
control), and both are probed with the trigger again.

Run: ``python benchmarks/trigger.py --steps 1500 --attacks prune30,weightnoise1%,int8,finetune1k,lora1k``
(``--opt``/``--checkpoint`` for another BasicSR model, ``--device cuda --batch 16 --attacks finetune5k`` on a GPU).
Appends a row to ``benchmarks/results/trigger.jsonl`` (or ``--out``).
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
from results_files import append_row
from wm_plugin.adapters import load_adapter
from wm_plugin.api import codec_for
from wm_plugin.attacks.models import AttackSetting
from wm_plugin.evaluate import evaluate_model_attacks
from wm_plugin.implant import PLAIN_WEIGHT, implant_trigger
from wm_plugin.keys import generate_key, load_key
from wm_plugin.metrics import picture_psnr
from wm_plugin.probe import (
    adapter_probes,
    as_picture,
    model_outputs,
    sample_task_psnr,
    verify_outputs,
    verify_triggered,
)
from wm_plugin.protect import absorb_inputs
from wm_plugin.trigger import Trigger

RESULTS = Path(__file__).parent / "results"


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"{platform.machine()}, {torch.get_num_threads()} threads, CPU"


def main() -> None:
    adapter = load_adapter("basicsr")
    demo_checkpoint, demo_opt = adapter.demo_model()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default=demo_opt)
    ap.add_argument("--checkpoint", default=demo_checkpoint)
    ap.add_argument("--key", default=None, help="a key file (default: a fresh spectral key)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--trainable", default=None)
    ap.add_argument("--plain-weight", type=float, default=PLAIN_WEIGHT,
                    help="implant_trigger's weight on the plain answers")
    ap.add_argument("--attacks", default="", help="comma-separated wm eval attack names, applied after implanting")
    ap.add_argument("--attack-lr", type=float, default=1e-4, help="learning rate of the fine-tuning attacks")
    ap.add_argument("--data", action="append", default=None, help="probe images (default: the bundled photos ÷ scale)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=RESULTS / "trigger.jsonl")
    args = ap.parse_args()
    torch.manual_seed(0)
    key = load_key(args.key) if args.key else generate_key(64, scheme="spectral")
    scale = adapter.model_scale(args.opt)
    original = adapter.load_model(args.checkpoint, config=args.opt, device=args.device)
    model = adapter.load_model(args.checkpoint, config=args.opt, device=args.device)
    start = time.time()
    implant_trigger(model, absorb_inputs(scale), Trigger.for_key(key), steps=args.steps, lr=args.lr, scale=scale,
                    batch=args.batch, plain_weight=args.plain_weight, trainable=args.trainable, progress=False)
    seconds = time.time() - start
    probes = adapter_probes(adapter, args.opt, args.data)
    names, codec = [n for n, _ in probes], codec_for(key, device=args.device)

    def answers(net, inputs):
        return model_outputs(lambda x: adapter.run(net, x), inputs, device=args.device, progress=False)

    def summary(v):
        return {"detected": v.detected, "p_value": v.p_value, "bit_accuracy": v.bit_accuracy,
                "detected_alone": v.n_images_detected / v.n_images}

    plain_before, plain_after = answers(original, probes), answers(model, probes)

    def response(net, k=key):
        return summary(verify_triggered(lambda x: adapter.run(net, x), probes, k, device=args.device,
                                        progress=False)[0])

    row = {"label": args.label, "opt": Path(args.opt).name, "steps": args.steps, "lr": args.lr, "batch": args.batch,
           "attack_lr": args.attack_lr,
           "trainable": args.trainable, "plain_weight": args.plain_weight, "key_scheme": key.scheme,
           "train_seconds": round(seconds, 1), "n_probes": len(probes),
           "psnr_plain_vs_original": float(np.mean([picture_psnr(as_picture(a), as_picture(b))
                                                    for a, b in zip(plain_before, plain_after)])),
           "protected_triggered": response(model),
           "protected_plain": summary(verify_outputs(names, plain_after, key, codec=codec)),
           "protected_stranger_trigger": response(model, generate_key(key.bits)),
           "original_triggered": response(original)}
    if not args.data:  # the probes are the bundled photos ÷ scale: the photos are the task's ground truth
        for name, outs in (("original", plain_before), ("protected", plain_after)):
            row[f"task_psnr_{name}"] = sample_task_psnr(outs)
    print(json.dumps(row), flush=True)  # the implant's own figures, before the (longer) attacks
    attacks = [a for a in args.attacks.split(",") if a]
    if attacks:
        setting = AttackSetting.for_model(scale, lr=args.attack_lr, progress=False)
        for name, net in (("protected", model), ("original", original)):
            results = evaluate_model_attacks(net, adapter.run, attacks, probes, key, codec=codec, setting=setting,
                                             trigger=True)
            row[f"{name}_triggered_after"] = [r.to_dict() for r in results]
    row |= {"machine": _machine(args.device), "date": time.strftime("%Y-%m-%d")}
    append_row(args.out, row)
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
