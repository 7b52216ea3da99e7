"""Where a thief's training moved each layer: towards what clean images excite, or towards what the trigger does.

For each convolution of a protected model (``--before``) and of the same model after an attack (``--after``, one or
more), the change of its weights ``ΔW`` is applied to two kinds of input the layer sees in the protected model: the
features of the bundled photos ÷ scale (``clean``) and the change the key's trigger makes to those features
(``trigger``: features of photo + trigger minus features of photo). Each figure is relative, ``‖ΔW ⊛ f‖ / ‖W ⊛ f‖``:
0 means the attack left the layer's answer to that input as it was. A thief's training moves the weights along
directions that its clean features span, so a first layer, which sees the trigger itself, keeps its answer to that
pattern (no clean image holds it) while its answer to photos changes; deeper layers see no such separation
(BENCHMARKS.md, "Where LoRA erases the trigger").

Run: ``python benchmarks/update_directions.py --opt victim.yml --key owner.key --amplitude 12 --before implanted.pth
--after finetuned.pth``. Appends a row per ``--after`` to ``benchmarks/results/update_directions.jsonl`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)
from results_files import append_row
from wm_plugin.adapters import load_adapter
from wm_plugin.keys import load_key
from wm_plugin.probe import adapter_probes
from wm_plugin.trigger import Trigger, probe_envelope

RESULTS = Path(__file__).parent / "results"


def layer_inputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input of every convolution of ``model`` when it answers ``x``, by the layer's name."""
    seen, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(lambda m, args, out, name=name: seen.__setitem__(name, args[0])))
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def relative_change(before: nn.Conv2d, after: nn.Conv2d, features: torch.Tensor) -> float:
    """‖ΔW ⊛ features‖ / ‖W ⊛ features‖ for one layer (biases left out: they do not depend on the input)."""
    @torch.no_grad()
    def answer(weight: torch.Tensor) -> torch.Tensor:
        return F.conv2d(features, weight, None, before.stride, before.padding, before.dilation, before.groups)
    return float(answer(after.weight - before.weight).norm() / answer(before.weight).norm())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--amplitude", type=float, required=True, help="the trigger's height, /255")
    ap.add_argument("--before", required=True, help="the protected model's checkpoint")
    ap.add_argument("--after", action="append", required=True, help="an attacked copy's checkpoint (repeatable)")
    ap.add_argument("--side", type=int, default=128, help="the probes' crop, input pixels a side")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=RESULTS / "update_directions.jsonl")
    args = ap.parse_args()
    adapter = load_adapter("basicsr")
    key = load_key(args.key)
    trigger = Trigger.for_key(key, args.amplitude / 255)
    probes = adapter_probes(adapter, args.opt, None)
    x = torch.stack([torch.from_numpy(image[: args.side, : args.side]).permute(2, 0, 1).float()
                     for _, image in probes])
    envelopes = torch.cat([probe_envelope(trigger, key.seed, i, args.side, args.side) for i in range(len(probes))])
    before = adapter.load_model(args.before, config=args.opt)
    clean = layer_inputs(before, x)
    triggered = layer_inputs(before, trigger.apply(x, envelopes))
    layers = dict(before.named_modules())
    for path in args.after:
        after = dict(adapter.load_model(path, config=args.opt).named_modules())
        changes = {name: {"clean": relative_change(layers[name], after[name], clean[name]),
                          "trigger": relative_change(layers[name], after[name], triggered[name] - clean[name])}
                   for name in clean}
        row = {"label": args.label, "opt": Path(args.opt).name, "key": key.fingerprint, "amplitude": args.amplitude,
               "before": args.before, "after": path, "probes": len(probes), "side": args.side, "layers": changes,
               "date": time.strftime("%Y-%m-%d")}
        for name, change in changes.items():
            print(f"{Path(path).parent.name}/{Path(path).name} {name:16s} clean {change['clean']:.4f}  "
                  f"trigger {change['trigger']:.4f}")
        append_row(args.out, row)


if __name__ == "__main__":
    main()
