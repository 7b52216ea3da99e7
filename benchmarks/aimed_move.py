"""How far a trigger-mode model's weights must move, aimed, before its response goes (its parametric vulnerability).

For each checkpoint, ``wm_plugin.implant.response_under_aimed_moves`` on a batch of crops of the bundled photos
(÷ the model's scale): the weights moved by each ``--sizes`` fraction of every tensor's norm along the gradient
that forgets the key's response fastest (Gan et al., ICCV 2023), and for each, the response's loss (the trigger
term at weight 1: 0 is the exact response) and how far the plain answers moved. An implant that survives a thief
should need a larger move; a model without the response (the original) gives the loss of no response at all.
The plain answers' change says which sizes ``implant_trigger``'s mini-max (``perturbation``) can ask for without
training the network at weights that no longer do its task.

Run: ``python benchmarks/aimed_move.py --opt benchmarks/victims/msrresnet64_x2_plain.yml --key
benchmarks/victims/owner.key --amplitude 12 --checkpoint A.pth --checkpoint B.pth``. Prints a Markdown table and
appends one row per checkpoint to ``benchmarks/results/aimed_move.jsonl`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
from results_files import append_row
from wm_plugin.adapters import load_adapter
from wm_plugin.crops import RandomCrops
from wm_plugin.implant import response_under_aimed_moves
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes
from wm_plugin.trigger import Trigger

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True, help="the BasicSR option file of the checkpoints")
    ap.add_argument("--checkpoint", action="append", required=True, help="repeatable")
    ap.add_argument("--key", required=True)
    ap.add_argument("--amplitude", type=float, default=4.0, help="the trigger's height, /255")
    ap.add_argument("--sizes", default="0,0.001,0.002,0.005,0.01,0.02,0.05")
    ap.add_argument("--crop", type=int, default=64, help="the side of each crop of the model's input")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", type=Path, default=RESULTS / "aimed_move.jsonl")
    args = ap.parse_args()
    missing = [c for c in args.checkpoint if not Path(c).is_file()]
    if missing:
        ap.error(f"no such checkpoint: {', '.join(missing)}")
    adapter = load_adapter("basicsr")
    sizes = [float(s) for s in args.sizes.split(",")]
    trigger = Trigger.for_key(load_key(args.key), args.amplitude / 255)
    x = RandomCrops([image for _, image in adapter_probes(adapter, args.opt, None)], args.crop, args.batch).next()
    print("| checkpoint | " + " | ".join(f"{s:g}" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for checkpoint in args.checkpoint:
        model = adapter.load_model(checkpoint, config=args.opt, device="cpu").eval()
        rows = response_under_aimed_moves(model, trigger, x, sizes)
        cells = " | ".join(f"{r['response_loss']:.4f} ({r['plain_change']:.4f})" for r in rows)
        print(f"| {Path(checkpoint).name} | {cells} |", flush=True)
        row = {"checkpoint": str(checkpoint), "opt": Path(args.opt).name, "key": trigger.fingerprint,
               "amplitude": args.amplitude, "crop": args.crop, "batch": args.batch, "moves": rows,
               "date": time.strftime("%Y-%m-%d")}
        append_row(args.out, row)


if __name__ == "__main__":
    main()
