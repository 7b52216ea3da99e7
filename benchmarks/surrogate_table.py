"""Every surrogate attack measured so far as one Markdown table, rendered from `wm eval`'s JSON documents under
benchmarks/results (so no figure in it is typed by hand): one row per victim × surrogate architecture × training
budget, one column per loss, and the same surrogates of the plain victim (the controls) in the last column.

Run: ``python benchmarks/surrogate_table.py`` prints the table; ``--readme README.md`` puts it between the README's
``<!-- surrogate-table -->`` markers (a test checks that the README's copy is the rendering of the JSON on disk).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from wm_plugin.fileio import write_text_atomic

RESULTS = Path(__file__).parent / "results"
# (folder under RESULTS, the victim it attacked, where its surrogates trained); every victim is a BasicSR network,
# "barrier" behind the spectral barrier, "absorb" trained with the flag and no barrier, "plain" the control.
FOLDERS = [
    ("surrogate_attacks_barrier", "MSRResNet ×2 (the flag benchmark's)", "CPU"),
    ("gpu", "MSRResNet ×2 (the flag benchmark's)", "GPU"),
    ("surrogates_msrresnet64", "MSRResNet ×2 (64×16)", "CPU"),
    ("surrogates_msrresnet64_x4", "MSRResNet ×4 (64×16)", "CPU"),
    ("surrogates_denoise", "denoiser, σ = 25 (thief's data procedural)", "CPU"),
    ("surrogates_denoise_photos", "denoiser, σ = 25", "CPU"),
]
ARCHS = {"resnet9": "ResNet-9", "srvgg": "SRVGGNetCompact", "unet": "U-Net"}
LOSSES = {"l1": "L1", "l2": "L2", "ssim": "SSIM", "adv": "L1 + adversarial", "perceptual": "L1 + VGG"}
ROLES = ("barrier", "absorb", "plain")
MARKERS = ("<!-- surrogate-table -->\n", "<!-- /surrogate-table -->")


@dataclass(frozen=True)
class Run:
    """One surrogate attack of one `wm eval` document."""

    folder: str
    role: str
    arch: str
    loss: str
    steps: int
    accuracy: float
    p_value: float
    detected: bool
    probes: int
    signed_rank: bool


def _runs(folder: str) -> list[Run]:
    out = []
    for path in sorted((RESULTS / folder).glob("*.json")):
        role = next((r for r in ROLES if r in f"{folder}/{path.stem}"), None)
        doc = json.loads(path.read_text())
        for attack in doc.get("model_attacks", []) if role and isinstance(doc, dict) else []:
            name = re.fullmatch(r"surrogate-(\w+)-(\w+)-(\d+)k", attack["attack"])
            if name:
                out.append(Run(folder, role, name[1], name[2], int(name[3]) * 1000, attack["bit_accuracy"],
                               attack["p_value"], attack["detected"], attack["n_images"],
                               "signed-rank" in attack.get("method", "")))
    return out


def _p(p: float) -> str:
    return re.sub(r"e-0*", "e-", f"{p:.2g}")


def _accuracy(run: Run) -> str:
    # half up from the decimal the JSON holds (0.6675 → 0.668), as BENCHMARKS.md's prose rounds
    return str(Decimal(repr(run.accuracy)).quantize(Decimal("0.001"), ROUND_HALF_UP))


def _cell(run: Run | None) -> str:
    if run is None:
        return "–"
    text = f"{_accuracy(run)}, p = {_p(run.p_value)}"
    return f"**{text}**" if run.detected else text


def render() -> str:
    """The Markdown table of every surrogate attack in RESULTS."""
    runs_of = {folder: _runs(folder) for folder, _, _ in FOLDERS}
    losses = [loss for loss in LOSSES if any(r.loss == loss for runs in runs_of.values() for r in runs)]
    lines = ["| victim | surrogate | steps | probes, test | " + " | ".join(LOSSES[x] for x in losses) + " | control |",
             "|---" * (len(losses) + 5) + "|"]
    for folder, victim, device in FOLDERS:
        runs = runs_of[folder]
        for role in ("barrier", "absorb"):
            for arch, steps in sorted({(r.arch, r.steps) for r in runs if r.role == role}):
                row = {r.loss: r for r in runs if (r.role, r.arch, r.steps) == (role, arch, steps)}
                controls = [r for loss in losses for r in runs
                            if (r.role, r.arch, r.steps, r.loss) == ("plain", arch, steps, loss) and loss in row]
                first = next(iter(row.values()))
                label = victim if role == "barrier" else f"{victim}, absorbed (no barrier)"
                test = "signed-rank" if first.signed_rank else "sign"
                control = " / ".join(_cell(r) if r.detected else _accuracy(r) for r in controls)
                lines.append(f"| {label} | {ARCHS[arch]} | {steps // 1000}k {device} | {first.probes}, {test} | "
                             + " | ".join(_cell(row.get(loss)) for loss in losses) + f" | {control or '–'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, help="replace the table between the markers of this file")
    args = parser.parse_args()
    table = render()
    if args.readme is None:
        print(table, end="")
        return
    text = args.readme.read_text()
    head, rest = text.split(MARKERS[0], 1)
    write_text_atomic(args.readme, head + MARKERS[0] + table + MARKERS[1] + rest.split(MARKERS[1], 1)[1])


if __name__ == "__main__":
    main()
