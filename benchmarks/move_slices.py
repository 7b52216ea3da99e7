"""Which part of a thief's weight move wears the trigger's response: its layers, its length, its direction.

A thief's attack moves a protected model's weights from ``W`` (``--before``) to ``W + Δ`` (``--after``). This
script applies parts of ``Δ`` to ``W`` and reads the key's trigger from the result, as ``trigger_fading.py`` reads
its points (bit accuracy, p-value, the response's height ``amp``; task PSNR on the bundled photos), plus the thief's
own L1 loss on fixed crops of its task (``thief_l1``: how much the part of the move did for the thief):

- ``--scale T`` (repeatable): ``W + T·Δ``, the move cut short or stretched;
- ``--slice NAME=REGEX`` (repeatable): ``Δ`` on the parameters whose names match ``REGEX`` (re.search), none
  elsewhere;
- ``--random-rank R`` (repeatable): on each convolution ``Δ`` has moved, a random move of rank ``R`` with the same
  norm as ``Δ``'s there (seeded): whether the response minds any move that large, or only the thief's.

Run: ``python benchmarks/move_slices.py --opt victim.yml --key owner.key --amplitude 12 --before implanted.pth
--after attacked.pth --slice 'body.0-3=^body\\.[0-3]\\.' --random-rank 4``. Appends a row per part to
``benchmarks/results/move_slices.jsonl`` (or ``--out``); the whole move and no move are always read.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
from results_files import append_row
from trigger_fading import read_response, task_psnr
from wm_plugin.adapters import load_adapter
from wm_plugin.attacks.models import AttackSetting
from wm_plugin.attacks.tasks import degrade
from wm_plugin.crops import RandomCrops
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes

RESULTS = Path(__file__).parent / "results"


def random_move(delta: torch.Tensor, rank: int, generator: torch.Generator) -> torch.Tensor:
    """A random matrix of rank ``rank`` over (output channels, the rest), shaped and normed like ``delta``."""
    move = torch.randn(delta.shape[0], rank, generator=generator) @ torch.randn(rank, delta[0].numel(),
                                                                                generator=generator)
    return move.view_as(delta) * (delta.norm() / move.norm())


def thief_batches(setting: AttackSetting, count: int = 3, side: int = 192) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed (degraded, clean) batches of 8 crops of ``setting``'s images for its task (seeded)."""
    crops = RandomCrops(setting.clean, side, 8, 0)
    batches = []
    for _ in range(count):
        clean = crops.next()
        batches.append((degrade(clean, setting.task, scale=setting.scale, generator=crops.generator), clean))
    return batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--amplitude", type=float, required=True, help="the trigger's height, /255")
    ap.add_argument("--before", required=True, help="the protected model's checkpoint")
    ap.add_argument("--after", required=True, help="the attacked copy's checkpoint")
    ap.add_argument("--scale", type=float, action="append", default=[], help="read W + T·Δ (repeatable)")
    ap.add_argument("--slice", action="append", default=[], metavar="NAME=REGEX",
                    help="read W + Δ on the parameters REGEX matches (repeatable)")
    ap.add_argument("--random-rank", type=int, action="append", default=[],
                    help="read W + a random move of this rank, Δ's norm on each convolution (repeatable)")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=RESULTS / "move_slices.jsonl")
    args = ap.parse_args()
    slices = dict(part.split("=", 1) for part in args.slice)
    torch.manual_seed(0)
    adapter = load_adapter("basicsr")
    key = load_key(args.key)
    probes = adapter_probes(adapter, args.opt, None)
    setting = AttackSetting.for_model(adapter.model_scale(args.opt))  # wm eval's thief: its images and task
    batches = thief_batches(setting)
    model = adapter.load_model(args.before, config=args.opt)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    after = adapter.load_model(args.after, config=args.opt).state_dict()
    delta = {name: after[name] - before[name] for name in before}

    def read(part: str, move: dict[str, torch.Tensor]) -> None:
        """Read the model at ``W + move`` and append its row."""
        model.load_state_dict({name: value + move[name] if name in move else value for name, value in before.items()})
        with torch.no_grad():
            thief_l1 = sum(float(F.l1_loss(model(x), y)) for x, y in batches) / len(batches)
        row = {"label": args.label, "before": args.before, "after": args.after, "part": part,
               **read_response(model, adapter.run, probes, key, args.amplitude / 255),
               "task_psnr": task_psnr(model, adapter.run, probes, setting.task),
               "thief_l1": thief_l1, "date": time.strftime("%Y-%m-%d")}
        print(json.dumps(row), flush=True)
        append_row(args.out, row)

    read("none", {})
    read("all", delta)
    for t in args.scale:
        read(f"scale {t:g}", {name: t * d for name, d in delta.items()})
    for part, pattern in slices.items():
        read(f"slice {part}", {name: d for name, d in delta.items() if re.search(pattern, name)})
    generator = torch.Generator().manual_seed(0)
    moved = [name for name, d in delta.items() if d.dim() == 4 and d.norm() > 0]
    for rank in args.random_rank:
        read(f"random rank {rank}", {name: random_move(delta[name], rank, generator) for name in moved})


if __name__ == "__main__":
    main()
