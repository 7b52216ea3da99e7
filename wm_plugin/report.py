"""The evidence report of ``wm verify --report DIR``: one HTML page and the PNGs it shows, readable by anyone.

The page states the verdict and the numbers behind it (voted bits, exact p-value, the false-positive
target, the method), shows each output beside its high-frequency content amplified (where the mark lives)
and, in model mode, the probe input it answered; lists each image's matching bits and p-value; plots the
images' matching-bit counts against the exact distribution a clean image gives (Binomial(k, ½): what the
clean-model calibration measures); shows the owner's message as a picture beside the message the images
voted for (for a key made from a logo, the logo itself: the seed paper's logo mode, with its NC); and records
the key's public fingerprint (never the secret seed), the software versions and the exact command. Files are
written atomically; nothing is fetched from outside.
"""

from __future__ import annotations

import datetime
import html
import importlib.metadata
import math
import platform
import shlex
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter

from .errors import KeyFileError, OutputExistsError
from .fileio import atomic_path, write_text_atomic
from .keys import OwnerKey
from .logo import logo_picture, logo_side, recovered_logo
from .record import file_sha256
from .verify import Verdict, normalized_correlation

__all__ = ["write_report"]

_STRONG = {"sign": "at least this many matches",  # what each test's p-value is the probability of
           "signed-rank": "matches at least this strong (the sum of their ranks, the bits ranked by how clearly "
                          "each was read)"}

_THUMB = 320  # longest side of the pictures on the page


def _save_png(path: Path, rgb: np.ndarray) -> None:
    im = Image.fromarray(rgb)
    im.thumbnail((_THUMB, _THUMB), Image.Resampling.LANCZOS)
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def _high_pass(rgb: np.ndarray, gain: float = 8.0) -> np.ndarray:
    """The image minus its blur, amplified around mid-grey: the fine texture, mark included."""
    blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(2)), np.float32)
    return np.clip(128 + gain * (rgb.astype(np.float32) - blurred), 0, 255).astype(np.uint8)


def _histogram_svg(matches: Sequence[int], bits: int, width: int = 640, height: int = 220) -> str:
    """Bars: how many images matched m bits; line: the count a clean set of that size would give."""
    n = max(len(matches), 1)
    counts = np.bincount(np.asarray(matches, int), minlength=bits + 1)
    null = np.array([n * math.comb(bits, m) / 2**bits for m in range(bits + 1)])
    top = max(counts.max(), null.max(), 1)
    step = width / (bits + 1)
    bars = "".join(f'<rect x="{m * step:.1f}" y="{height - c / top * height:.1f}" width="{step * 0.9:.1f}" '
                   f'height="{c / top * height:.1f}" fill="#c0392b">'
                   f'<title>{c} image(s) with {m} matching bits</title></rect>'
                   for m, c in enumerate(counts) if c)
    line = " ".join(f"{(m + 0.45) * step:.1f},{height - v / top * height:.1f}" for m, v in enumerate(null))
    ticks = "".join(f'<text x="{m * step:.1f}" y="{height + 14}" font-size="10">{m}</text>'
                    for m in range(0, bits + 1, 8))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img" '
            f'aria-label="matching bits per image against the clean reference">{bars}'
            f'<polyline points="{line}" fill="none" stroke="#2c3e50" stroke-width="1.5"/>{ticks}</svg>')


def _message_section(folder: Path, verdict: Verdict, key: OwnerKey) -> str:
    """The owner's message and the voted reading as √k × √k pictures; empty for keys of non-square length."""
    try:
        side = logo_side(key.bits)
    except KeyFileError:
        return ""
    owner = np.asarray(key.message, np.uint8).reshape(side, side) * 255
    votes = np.asarray(verdict.votes)[: key.bits]  # a trigger's response reads more bits: its first carrier's are these
    for name, grid in (("message_key.png", owner), ("message_read.png", recovered_logo(votes, key))):
        with atomic_path(folder / name) as tmp:
            Image.fromarray(logo_picture(grid, 160)).save(tmp, format="PNG")
    part = f" (the first {key.bits} of the {len(verdict.votes)} bits read)" if len(verdict.votes) > key.bits else ""
    nc = normalized_correlation(votes, key.carried_bits())
    overall = f"; over all {len(verdict.votes)} bits, as `wm verify --json` gives it: {verdict.nc:.3f}" if part else ""
    return f"""<h2>The owner's message, as a picture</h2>
<p>Left: the {key.bits} message bits of the owner's key, white for 1 (for a key made from a logo, the logo). Right: the
message these images voted for{part}, unscrambled with the key: white or black where the bits read confidently, grey
where nothing is read. Normalized correlation (NC) between the two: <span id="nc">{nc:.3f}</span> (1: identical;
about 0: unrelated){overall}.</p>
<p id="message"><img src="message_key.png" alt="the owner's message">
<img src="message_read.png" alt="the message read"></p>
"""


def _versions() -> str:
    names = ["wm-plugin", "torch", "basicsr", "mmagic", "mmengine"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found + [f"Python {platform.python_version()}"])


def write_report(folder: str | Path, verdict: Verdict, key: OwnerKey, outputs: Sequence[np.ndarray], *,
                 inputs: Sequence[np.ndarray] | None = None, subject: str, command: Sequence[str],
                 files: Sequence[str | Path] = ()) -> Path:
    """Write ``report.html`` and its PNGs into ``folder``; return the page's path.

    Args:
        verdict: what ``wm verify`` decided, with its per-image scores (same order as ``outputs``).
        outputs: the images tested (H×W×3 uint8): the suspect's outputs.
        inputs: the probe inputs the suspect model was given (model mode), same order.
        subject: what was tested, in words (a checkpoint and its framework, or a folder of outputs).
        command: the command line that asked for the verification.
        files: files to name with their SHA-256 (the suspect checkpoint), so the page says which bytes were tested.

    Raises:
        OutputExistsError: ``folder`` already holds a report.
    """
    folder = Path(folder)
    page = folder / "report.html"
    if page.exists():
        raise OutputExistsError(f"{page} exists; choose another --report folder")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (score, out) in enumerate(zip(verdict.images, outputs)):
        _save_png(folder / f"output_{i}.png", out)
        _save_png(folder / f"texture_{i}.png", _high_pass(out))
        cells = [f'<img src="output_{i}.png" alt="output {i}">', f'<img src="texture_{i}.png" alt="texture {i}">']
        if inputs is not None:
            _save_png(folder / f"input_{i}.png", inputs[i])
            cells.insert(0, f'<img src="input_{i}.png" alt="input {i}">')
        rows.append(f"<tr><td>{html.escape(score.name)}</td><td>{score.matches}/{score.bits}</td>"
                    f"<td>{score.p_value:.3g}</td><td>{'yes' if score.p_value <= verdict.fpr_target else 'no'}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    word = "DETECTED" if verdict.detected else "NOT DETECTED"
    heads = (["input"] if inputs is not None else []) + ["output", "fine texture ×8 (where the mark lives)"]
    head_cells = "".join(f"<th>{h}</th>" for h in heads)
    cmd = " ".join(shlex.quote(str(a)) for a in command)
    hashes = "".join(f'<li>SHA-256 of {html.escape(str(f))}: <code class="sha256">{file_sha256(f)}</code></li>\n'
                     for f in files)
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wm verify: {word}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
table{{border-collapse:collapse}} .verdict{{font-size:1.6em;color:{'#c0392b' if verdict.detected else '#27ae60'}}}
code{{background:#f4f4f4;padding:2px 4px}}</style></head><body>
<h1>Watermark verification</h1>
<p class="verdict" id="verdict">{word}</p>
<p>{verdict.matches} of {verdict.bits} bits of the message voted over {verdict.n_images} image(s) match the owner's key:
p = {verdict.p_value:.3g}, the probability of {_STRONG[verdict.test]} for a model or images that do not carry this
key's mark. Decision threshold (false-positive target): {verdict.fpr_target:g}. Method: {html.escape(verdict.method)}.
{verdict.n_images_detected} of {verdict.n_images} image(s) are detected on their own.</p>
<h2>What was tested</h2>
<ul><li>Subject: {html.escape(subject)}</li>
{hashes}<li>Owner key fingerprint: <code id="fingerprint">{key.fingerprint}</code> (public; the key's secret seed is not
in this report)</li>
<li>Command: <code id="command">{html.escape(cmd)}</code></li>
<li>Software: {html.escape(_versions())}</li>
<li>Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</li></ul>
<h2>Matching bits per image, against clean images</h2>
<p>Red bars: images with that many of the {verdict.bits} bits matching. Dark line: how many a set of {verdict.n_images}
images without the mark would show (the exact Binomial({verdict.bits}, ½) distribution).</p>
{_histogram_svg([s.matches for s in verdict.images], verdict.bits)}
{_message_section(folder, verdict, key)}<h2>Each image</h2>
<table id="images"><tr><th>image</th><th>matching bits</th><th>p-value</th><th>detected alone</th>{head_cells}</tr>
{''.join(rows)}</table>
<script>/* Counts the pictures the browser could show (a check for readers and for the tests). */
window.addEventListener("load", () => {{
  document.body.dataset.imagesLoaded = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;
}});</script>
</body></html>
"""
    write_text_atomic(page, text)
    return page
