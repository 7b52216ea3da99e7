"""Trigger mode over many owners: how many protected models are still detected after the thief's attacks
(TPR at the false-positive target, SleeperMark's headline figure), and how many unprotected ones are accused.

For each of ``--keys`` fresh keys, ``implant_trigger`` on the model (default: the bundled SRVGGNetCompact ×2 of
``wm demo``); each attack of ``--attacks`` (``wm eval``'s names) is applied to that protected model, and the
attacked copy is probed with the key's trigger. The control: the original model, attacked the same way, probed
with every key's trigger (a model fine-tuned from the unprotected original must never be accused).

Every verdict is ``verify_triggered``'s (the signed-rank test); each row also gives ``p_value_sign_test``, the sign
test's p-value on the same voted word, for comparison with the figures measured before the signed-rank test.

Task PSNR: the protected model's plain answers to the probes (the bundled photos ÷ scale; for a ×1 model the photos
degraded for its task, seeded) against the photos, beside the original's (``trigger_fading.task_psnr``).

Run: ``python benchmarks/trigger_tpr.py --keys 5 --attacks finetune5k`` (``--attack-data data/train``: the thief
fine-tunes on photos instead of procedural images; ``--device cuda --batch 16`` on a GPU; ``--opt``/``--checkpoint``
for another BasicSR model). Appends a row to ``benchmarks/results/trigger_tpr.jsonl`` (or ``--out``).
``--part protected`` / ``--part control`` run one half (to split the work between runs: the control does not
depend on the keys);
``--implant-task denoise`` implants on noisy procedural images with the taller trigger, as ``wm protect --task
denoise`` does; ``--amplitude H`` (/255) sets the trigger's height, as ``--trigger-height H`` does;
``--trainable REGEX`` implants through the parameters it names only, as ``wm protect --trainable`` does;
``--minimax EPS`` implants as ``wm protect --minimax EPS`` does (``implant_minimax``: the mini-max, then the polish;
three times the implant's time).
``--deadline S`` starts a key only if the slowest key so far would still end within S seconds of the start, so a
run under a hard time limit still writes its row.

More probes per verdict, beside the default four (the bundled photos): ``--probe-data DIR`` probes with the images
in DIR as they are (``wm verify --trigger --data DIR``; ``benchmarks/datasets.py --probes 32`` writes held-out
crops), ``--probe-repeats N`` with the bundled photos N times over, each time under fresh envelopes (the probe's
index draws them). Each verdict then also gives every such set's under ``probe_sets``. ``--keep DIR`` writes the
fresh keys and every attacked model's weights there, so a verdict can be re-checked with other probes later.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
from results_files import append_row
from trigger_fading import task_psnr
from wm_plugin.adapters import load_adapter
from wm_plugin.api import codec_for
from wm_plugin.attacks.models import AttackSetting, apply_model_attack
from wm_plugin.attacks.tasks import TASKS
from wm_plugin.evaluate import iter_model_attacks
from wm_plugin.implant import PLAIN_WEIGHT, implant
from wm_plugin.io import read_images_compact
from wm_plugin.keys import generate_key, save_key
from wm_plugin.metrics import picture_psnr
from wm_plugin.probe import adapter_probes, as_picture, model_outputs, verify_triggered
from wm_plugin.protect import absorb_inputs
from wm_plugin.trigger import Trigger, resolve_trigger_height
from wm_plugin.verify import binomial_tail

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    adapter = load_adapter("basicsr")
    demo_checkpoint, demo_opt = adapter.demo_model()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default=demo_opt)
    ap.add_argument("--checkpoint", default=demo_checkpoint)
    ap.add_argument("--keys", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1500, help="implant steps")
    ap.add_argument("--lr", type=float, default=1e-3, help="implant learning rate")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--amplitude", type=float, default=None,
                    help="the trigger's height, /255 (default: wm protect's for --implant-task)")
    ap.add_argument("--implant-task", choices=TASKS, default=None,
                    help="degrade the implant's procedural images for this task (wm protect --task)")
    ap.add_argument("--plain-weight", type=float, default=PLAIN_WEIGHT,
                    help="implant_trigger's weight on the plain answers")
    ap.add_argument("--trainable", default=None, help="implant only the parameters whose names match")
    ap.add_argument("--minimax", type=float, default=None, help="the mini-max's weight move, then the polish")
    ap.add_argument("--attacks", default="finetune5k")
    ap.add_argument("--attack-lr", type=float, default=1e-4)
    ap.add_argument("--attack-data", action="append", default=None,
                    help="the thief's clean images (default: procedural)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--label", default="")
    ap.add_argument("--part", choices=["all", "protected", "control"], default="all",
                    help="the protected models, the control (the original attacked, probed with every key), or both")
    ap.add_argument("--deadline", type=float, default=None,
                    help="seconds from the start: no key is begun that the slowest key so far says would end later")
    ap.add_argument("--probe-data", action="append", default=[],
                    help="also verify with the model inputs in this folder (repeatable)")
    ap.add_argument("--probe-repeats", type=int, default=0,
                    help="also verify with the bundled photos this many times over, under fresh envelopes")
    ap.add_argument("--keep", type=Path, default=None, help="write the keys and the attacked models' weights here")
    ap.add_argument("--out", type=Path, default=RESULTS / "trigger_tpr.jsonl")
    args = ap.parse_args()
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep} is not empty: choose a new folder (nothing kept is overwritten)")
    began = time.time()
    torch.manual_seed(0)
    scale = adapter.model_scale(args.opt)
    original = adapter.load_model(args.checkpoint, config=args.opt, device=args.device)
    probes = adapter_probes(adapter, args.opt, None)
    probe_sets = {Path(d).name: adapter_probes(adapter, args.opt, [d]) for d in args.probe_data}
    if args.probe_repeats:
        probe_sets[f"samples x{args.probe_repeats}"] = [(f"{name}#{r}", rgb) for r in range(args.probe_repeats)
                                                        for name, rgb in probes]
    attacks = [a for a in args.attacks.split(",") if a]
    clean = read_images_compact(args.attack_data) if args.attack_data else None
    setting = AttackSetting.for_model(scale, clean=clean, lr=args.attack_lr, progress=False)
    keys = [generate_key(64) for _ in range(args.keys)]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for i, key in enumerate(keys):
            save_key(key, args.keep / f"key{i}.json")
    height = resolve_trigger_height(args.amplitude, args.implant_task)
    amplitude = height / 255

    def run(net, x):
        return adapter.run(net, x)

    def sign_test(v) -> dict:
        """The sign test's p-value on verdict ``v``'s voted word, beside the signed-rank test's that decides."""
        return {"matches": v.matches, "p_value_sign_test": binomial_tail(v.matches, v.bits)}

    def summary(v) -> dict:
        return {"detected": v.detected, "p_value": v.p_value, "bit_accuracy": v.bit_accuracy, **sign_test(v)}

    def verdict_on(net, key, inputs, answers=None) -> dict:
        """The summary of ``net``'s verdict on ``inputs`` (its answers to them ``answers``, where known)."""
        return summary(verify_triggered(lambda x: run(net, x), inputs, key, plain=answers, amplitude=amplitude,
                                        device=args.device, progress=False)[0])

    def on_probe_sets(net, key) -> dict:
        """``net``'s verdict summary on each extra probe set, under ``probe_sets`` (nothing without one)."""
        if not probe_sets:
            return {}
        return {"probe_sets": {name: verdict_on(net, key, p) for name, p in probe_sets.items()}}

    def verdicts(net, key, plain=None) -> dict:
        """``net``'s verdict summary on the default probes (its answers to them ``plain``), and the extra sets'."""
        return verdict_on(net, key, probes, plain) | on_probe_sets(net, key)

    def keep(net, name: str) -> None:
        if args.keep:
            save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()},
                      args.keep / f"{name}.safetensors")

    plain_original = model_outputs(lambda x: run(original, x), probes, device=args.device, progress=False)
    protected_rows, slowest = [], 0.0
    for i, key in enumerate(keys if args.part != "control" else []):
        if i and args.deadline is not None and time.time() - began + slowest > args.deadline:
            print(f"deadline: {i} of {len(keys)} keys", flush=True)
            break
        model = adapter.load_model(args.checkpoint, config=args.opt, device=args.device)
        start = time.time()
        inputs, trigger = absorb_inputs(scale, task=args.implant_task), Trigger.for_key(key, amplitude)
        training = dict(steps=args.steps, lr=args.lr, scale=scale, batch=args.batch, plain_weight=args.plain_weight,
                        trainable=args.trainable, progress=False)
        implant(model, inputs, trigger, minimax=args.minimax, **training)
        row = {"key": i, "implant_seconds": round(time.time() - start, 1)}
        plain = model_outputs(lambda x: run(model, x), probes, device=args.device, progress=False)
        row["psnr_plain_vs_original"] = float(np.mean([picture_psnr(as_picture(a), as_picture(b))
                                                       for a, b in zip(plain_original, plain)]))
        row["task_psnr"] = task_psnr(model, run, probes, setting.task, args.device)
        row["none"] = verdicts(model, key, plain)
        for r, attacked in iter_model_attacks(model, run, attacks, probes, key,
                                              codec=codec_for(key, device=args.device), setting=setting,
                                              unattacked=plain, trigger=True, trigger_amplitude=amplitude):
            row[r.attack] = r.to_dict() | sign_test(r.verdict) | on_probe_sets(attacked, key)
            keep(attacked, f"key{i}_{r.attack}")
        protected_rows.append(row)
        slowest = max(slowest, time.time() - start)
        print(json.dumps(row), flush=True)

    control = {}
    for attack in attacks if args.part != "protected" else []:
        attacked = apply_model_attack(attack, original, setting)
        keep(attacked, f"control_{attack}")
        control[attack] = [verdicts(attacked, key) for key in keys]
        print(attack, "control", json.dumps(control[attack]), flush=True)

    def rate(attack: str) -> float | None:
        return float(np.mean([r[attack]["detected"] for r in protected_rows])) if protected_rows else None

    doc = {"label": args.label, "opt": Path(args.opt).name, "part": args.part, "keys": len(protected_rows) or args.keys,
           "steps": args.steps, "lr": args.lr, "amplitude": height, "implant_task": args.implant_task,
           "plain_weight": args.plain_weight, "trainable": args.trainable, "minimax": args.minimax,
           "attack_lr": args.attack_lr,
           "attack_data": args.attack_data or "procedural", "n_probes": len(probes),
           "probe_sets": {name: len(p) for name, p in probe_sets.items()},
           "task_psnr_original": task_psnr(original, run, probes, setting.task, args.device),
           "tpr": {a: rate(a) for a in ["none", *attacks]},
           "control_accused": {a: float(np.mean([c["detected"] for c in control[a]])) for a in control},
           "protected": protected_rows, "control": control,
           "machine": torch.cuda.get_device_name(0) if args.device.startswith("cuda")
           else f"{platform.machine()}, {torch.get_num_threads()} threads, CPU",
           "date": time.strftime("%Y-%m-%d")}
    append_row(args.out, doc)
    print(json.dumps({k: doc[k] for k in ("tpr", "control_accused")}, indent=2))


if __name__ == "__main__":
    main()
