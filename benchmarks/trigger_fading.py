"""How a trigger-mode mark fades while a thief fine-tunes the model: the response read after every chunk of steps.

``implant_trigger`` on the demo SRVGGNetCompact ×2 (or ``--opt``/``--checkpoint``) with the key ``--key``, then
fine-tuning on clean pairs of its task (``wm eval``'s attack: L1, 96² crops, batch 8, Adam at ``--attack-lr``)
in chunks (``--chunks 1000,1000,1000,2000``: Adam restarts at each chunk, its crops drawn with seed = chunk index).
After the implant and each chunk, the bundled photos ÷ 2 probe the model with the key's trigger, and the kernel
read from each probe is split as ``a·K + e``: ``amp`` is ``a`` (1 = the owner's exact response), ``resid`` the
standard deviation of ``e`` in the same unit, ``resid_corr`` the mean correlation of ``e`` between probes (near 1:
the error is the model's own, more probes would not remove it). Bit accuracy is about Φ(amp / resid); ``p_value``
is ``wm verify --trigger``'s over the probes; ``task_psnr`` the model's PSNR on the thief's task, on the bundled
photos (÷ scale for super-resolution, noisy for a ×1 model), beside the original model's (``task_psnr_original``).
``--implant-task denoise`` implants on noisy procedural images, as ``wm protect --task denoise`` does, and with that
command's taller trigger unless ``--amplitude`` says otherwise (``trigger.default_trigger_height``).

``--response-height`` and ``--amplitude`` (in /255) override the response's and the carrier's height of
``wm_plugin.trigger`` for the experiment, ``--carriers 1`` its number of carriers (the one-carrier trigger of
2026-11-27 and before: 64 bits). ``--attack-data DIR`` fine-tunes on the thief's own images instead of procedural
ones; ``--thief-filter chromanotch`` passes the thief's inputs through that filter of ``wm eval`` while it fine-tunes
(the probes still reach the weights unfiltered): a thief whose images hold nothing in the carrier band.
``--lora-rank 4`` makes the thief train low-rank adapters instead of the weights (``wm eval``'s ``lora`` attack: with
``--chunks 5000``, its ``lora5k``), fresh ones each chunk, merged into the weights at its end; ``--lora-layers REGEX``
puts them only on the layers whose names it matches (``conv_first``; ``(?!conv_first$).*``: all but that one).
``--stranger KEY`` (repeatable) also reads every point with another key: with ``--steps 0`` (no implant), the
original model fine-tuned as the thief would, read by several owners' triggers (the control: never detected).
``--perturbation 0.05`` implants with ``implant_trigger``'s mini-max against nearby weights. ``--start FILE.pth``
implants from those weights (an earlier implant) with ``--checkpoint`` as the teacher whose answers are kept: with
``--lr 1e-4 --steps 500 --warmup-height 1``, a polish of the task after a mini-max implant.
``--device cuda --batch 16`` implants as ``trigger_tpr.py`` does on a GPU. ``--implanted FILE.pth`` keeps the
implanted weights there (a checkpoint of the model's framework), or starts from them when the file exists, so that
several thieves share one implant; the implant under way is saved every 500 steps beside it (``FILE.state.pt``) and
resumed from there. ``--keep DIR`` writes the weights at every point read (``stepN.pth``, from step 0)
and the points read so far (``curve.jsonl``) there; run again with the same ``--keep`` and ``--chunks``, a stopped run
goes on from where it stopped (the chunk under way is saved every 500 steps as ``chunkI.ckpt``).

Run: ``python benchmarks/trigger_fading.py --key owner.key --response-height 8``. Appends a row to
``benchmarks/results/trigger_fading.jsonl`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
import wm_plugin.trigger as trigger_module
from results_files import append_row
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.finetune import finetune, merge_lora
from wm_plugin.attacks.inputs import INPUT_FILTERS, FilteredInputs
from wm_plugin.attacks.models import AttackSetting
from wm_plugin.attacks.tasks import TASKS, degrade_image
from wm_plugin.implant import PLAIN_WEIGHT, implant_trigger
from wm_plugin.io import read_images_compact
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes, model_outputs, sample_task_psnr
from wm_plugin.protect import absorb_inputs
from wm_plugin.verify import verdict

RESULTS = Path(__file__).parent / "results"


def read_response(model, run, probes, key, amplitude: float, device: str = "cpu") -> dict:
    """The response to the key's trigger of height ``amplitude`` read from each probe, split along the key's kernel
    (see the module's docstring)."""
    logits, _ = trigger_module.triggered_logits(lambda x: run(model, x), probes, key, amplitude=amplitude,
                                                device=device, progress=False)
    carried = trigger_module.Trigger.for_key(key).carried
    signs = carried.astype(np.float32) * 2 - 1
    amp = (logits * signs).mean(1) / trigger_module.LOGIT_SCALE
    resid = logits / trigger_module.LOGIT_SCALE - amp[:, None] * signs
    between = np.corrcoef(resid)[np.triu_indices(len(probes), 1)].mean()
    p_value = verdict([name for name, _ in probes], logits, carried).p_value  # wm verify --trigger's test
    return {"bit_accuracy": float(((logits > 0) == (signs > 0)).mean()), "p_value": p_value, "amp": float(amp.mean()),
            "resid": float(resid.std()), "resid_corr": float(between)}


def task_psnr(model, run, probes, task: str, device: str = "cpu") -> float:
    """Mean PSNR (dB) of the model's answers on its task against the bundled photos: the probes themselves for
    super-resolution (the photos ÷ its scale), the photos degraded for ``task`` (seeded) for a ×1 model."""
    if task != "sr":
        generator = torch.Generator().manual_seed(0)
        probes = [(name, degrade_image(x, task, generator=generator)) for name, x in probes]
    return sample_task_psnr(model_outputs(lambda x: run(model, x), probes, device=device, progress=False))


def kept_points(folder: Path | None) -> list[dict]:
    """The points a run with ``--keep folder`` read before it stopped (none for a new folder)."""
    curve = folder / "curve.jsonl" if folder else None
    return [json.loads(line) for line in curve.read_text().splitlines()] if curve and curve.exists() else []


def keep_point(folder: Path, adapter, model, point: dict, *, like: str, config: str) -> None:
    """Write the weights ``point`` was read from (``stepN.pth``), then append the point to ``folder/curve.jsonl``:
    every kept point has weights to resume from."""
    folder.mkdir(parents=True, exist_ok=True)
    adapter.save_checkpoint(model, str(folder / f"step{point['step']}.pth"), like=like, config=config)
    append_row(folder / "curve.jsonl", point)


def main() -> None:
    adapter = load_adapter("basicsr")
    demo_checkpoint, demo_opt = adapter.demo_model()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default=demo_opt)
    ap.add_argument("--checkpoint", default=demo_checkpoint)
    ap.add_argument("--key", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=4, help="implant batch")
    ap.add_argument("--trainable", default=None)
    ap.add_argument("--perturbation", type=float, default=0.0,
                    help="implant_trigger's mini-max: the response asked for at weights moved this far too")
    ap.add_argument("--plain-weight", type=float, default=PLAIN_WEIGHT,
                    help="implant_trigger's weight on the plain answers")
    ap.add_argument("--warmup-height", type=float, default=trigger_module.WARMUP_HEIGHT,
                    help="implant_trigger's carrier height at first, in carrier heights")
    ap.add_argument("--start", type=Path, default=None,
                    help="implant from these weights (an earlier implant); --checkpoint stays the teacher")
    ap.add_argument("--response-height", type=float, default=None, help="the response's height, /255")
    ap.add_argument("--amplitude", type=float, default=None,
                    help="the carrier's height, /255 (default: wm protect's for --implant-task)")
    ap.add_argument("--carriers", type=int, choices=[1, 2], default=trigger_module.CARRIERS)
    ap.add_argument("--attack-data", action="append", default=None,
                    help="the thief's clean images (default: procedural)")
    ap.add_argument("--thief-filter", choices=sorted(INPUT_FILTERS), default=None,
                    help="filter the thief's inputs while it fine-tunes")
    ap.add_argument("--implant-task", choices=TASKS, default=None,
                    help="degrade the implant's procedural images for this task (wm protect --task)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--attack-lr", type=float, default=1e-4)
    ap.add_argument("--chunks", default="1000,1000,1000,2000")
    ap.add_argument("--lora-rank", type=int, default=None, help="the thief trains adapters of this rank")
    ap.add_argument("--lora-layers", default=None, help="a regular expression: the layers that get adapters")
    ap.add_argument("--implanted", type=Path, default=None,
                    help="the implanted checkpoint: written after the implant, or read instead of it")
    ap.add_argument("--stranger", type=Path, action="append", default=[],
                    help="also read each point with this key (repeatable): one the model was not protected with")
    ap.add_argument("--keep", type=Path, default=None,
                    help="a folder for the weights after each chunk and the points so far: a stopped run resumes")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=RESULTS / "trigger_fading.jsonl")
    args = ap.parse_args()
    if args.response_height is not None:
        trigger_module.RESPONSE_HEIGHT = args.response_height / 255
    trigger_module.CARRIERS = args.carriers
    amplitude = trigger_module.resolve_trigger_height(args.amplitude, args.implant_task) / 255
    torch.manual_seed(0)
    key, strangers = load_key(args.key), [load_key(path) for path in args.stranger]
    scale = adapter.model_scale(args.opt)
    start = time.time()
    kept = kept_points(args.keep)
    implant_seconds = None  # none ran: the implant was read from --implanted or --keep
    if kept:  # resuming a stopped thief: the implant is behind it
        model = adapter.load_model(str(args.keep / f"step{kept[-1]['step']}.pth"), config=args.opt, device=args.device)
    elif args.implanted and args.implanted.exists():
        model = adapter.load_model(str(args.implanted), config=args.opt, device=args.device)
    else:
        model = adapter.load_model(str(args.start or args.checkpoint), config=args.opt, device=args.device)
        teacher = adapter.load_model(args.checkpoint, config=args.opt, device=args.device) if args.start else None
        state = args.implanted and args.implanted.with_suffix(".state.pt")
        resumed = state and state.exists()
        trigger = trigger_module.Trigger.for_key(key, amplitude)
        implant_trigger(model, absorb_inputs(scale, task=args.implant_task), trigger,
                        steps=args.steps, lr=args.lr, scale=scale, batch=args.batch, plain_weight=args.plain_weight,
                        warmup_height=args.warmup_height, trainable=args.trainable, perturbation=args.perturbation,
                        teacher=teacher, progress=False, checkpoint=state)
        implant_seconds = None if resumed else round(time.time() - start, 1)  # a resumed one: its last part only
        if args.implanted:  # as wm protect writes a protected checkpoint: the framework's format, atomically
            adapter.save_checkpoint(model, str(args.implanted), like=args.checkpoint, config=args.opt)
    row = {"label": args.label, "opt": Path(args.opt).name, "steps": args.steps, "lr": args.lr, "batch": args.batch,
           "carriers": args.carriers, "implant_task": args.implant_task,
           "attack_data": args.attack_data or "procedural", "thief_filter": args.thief_filter,
           "trainable": args.trainable, "perturbation": args.perturbation, "plain_weight": args.plain_weight,
           "warmup_height": args.warmup_height, "start": args.start and str(args.start),
           "response_height": trigger_module.RESPONSE_HEIGHT * 255,
           "amplitude": amplitude * 255, "attack_lr": args.attack_lr, "lora_rank": args.lora_rank,
           "lora_layers": args.lora_layers,
           "implanted": args.implanted and str(args.implanted), "implant_seconds": implant_seconds}
    probes = adapter_probes(adapter, args.opt, None)
    clean = read_images_compact(args.attack_data) if args.attack_data else None
    setting = AttackSetting.for_model(scale, clean=clean, lr=args.attack_lr)  # wm eval's thief: task, crops, data

    def point(step: int) -> dict:
        """The response read after ``step`` thief steps, and the model's PSNR on the thief's task."""
        others = [{"key": other.fingerprint, **read_response(model, adapter.run, probes, other, amplitude, args.device)}
                  for other in strangers]
        return {"step": step, **read_response(model, adapter.run, probes, key, amplitude, args.device),
                "task_psnr": task_psnr(model, adapter.run, probes, setting.task, args.device),
                **({"strangers": others} if others else {})}

    original = adapter.load_model(args.checkpoint, config=args.opt, device=args.device)
    row["task_psnr_original"] = task_psnr(original, adapter.run, probes, setting.task, args.device)
    curve = kept or [point(0)]
    for kept_point in curve:
        print(json.dumps(kept_point), flush=True)
    if args.keep and not kept:
        keep_point(args.keep, adapter, model, curve[0], like=args.checkpoint, config=args.opt)
    chunks = [int(c) for c in args.chunks.split(",") if c]
    done = 0
    for i, steps in enumerate(chunks):
        done += steps
        if i < len(curve) - 1:
            if curve[i + 1]["step"] != done:
                raise SystemExit(f"{args.keep} holds a run of other --chunks (step {curve[i + 1]['step']}, not {done})")
            continue
        thief_view = FilteredInputs(model, args.thief_filter) if args.thief_filter else model
        model = finetune(thief_view, setting.clean, task=setting.task, scale=scale, steps=steps, lr=setting.lr,
                         lora_rank=args.lora_rank, lora_layers=args.lora_layers, crop=setting.crop, batch=8, seed=i,
                         progress=False, checkpoint=args.keep / f"chunk{i}.ckpt" if args.keep else None)
        model = merge_lora(model.model if args.thief_filter else model)  # the weights, probed unfiltered
        curve.append(point(done))
        print(json.dumps(curve[-1]), flush=True)
        if args.keep:
            keep_point(args.keep, adapter, model, curve[-1], like=args.checkpoint, config=args.opt)
    machine = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    row |= {"curve": curve, "machine": machine, "date": time.strftime("%Y-%m-%d")}
    append_row(args.out, row)


if __name__ == "__main__":
    main()
