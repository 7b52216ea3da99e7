"""False positives of the shipped extractor on clean images: the count of "detected" verdicts and how
uniform the p-values are.

Clean images: random crops (64 px to the whole photo, random scale) of every photo that ships in the
packages (training and test folders), procedural images, and JPEG versions of some of them; R reads each
once. Each reading is tested against (a) one fixed key for all images, (b) a fresh key per image, by each of
``verify.TESTS`` (the sign test and the signed-rank test). Under the null hypothesis P(p ≤ a) ≤ a for every a
(the p-values are discrete, hence ≤ rather than =).

With the deep scheme, whose readings do not depend on the key, also (c) the same readings against each of
``--spread-keys`` keys (default 1,000: 10^7 key-image pairs at --n 10000, enough to count what happens at the 1e-6
target itself) and how far one key's shares stray (images that are crops of a few photos are correlated, so one
key's shares scatter around the diagonal). Writes ``results/false_positives.json`` and ``.md``
(``false_positives_spectral.*`` with ``--scheme spectral``, where a fresh key also means a fresh frequency layout,
so each image is read again with its own key).

Run: ``python benchmarks/false_positives.py data/train data/test --n 10000 [--scheme spectral]``
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from results_files import write_results
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image
from wm_plugin.keys import generate_key
from wm_plugin.spectral import SpectralCodec
from wm_plugin.train.procedural import procedural_image
from wm_plugin.verify import DEFAULT_FPR, TESTS, binomial_tail, score_image, signed_rank_tail

LEVELS = (1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5)


def clean_images(photos: list[np.ndarray], n: int, seed: int):
    """Yield ``n`` clean uint8 images: crops of photos (80%) and procedural images (20%), a third JPEG'd."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        if rng.random() < 0.8:
            p = photos[rng.integers(len(photos))]
            h, w = p.shape[:2]
            side_h = int(rng.integers(min(64, h), h + 1))
            side_w = int(np.clip(side_h * rng.uniform(0.5, 2.0), min(64, w), w))
            y, x = rng.integers(0, h - side_h + 1), rng.integers(0, w - side_w + 1)
            img = p[y : y + side_h, x : x + side_w]
        else:
            img = np.rint(procedural_image(rng, int(rng.choice([64, 128, 256]))) * 255).astype(np.uint8)
        if rng.random() < 1 / 3:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=int(rng.integers(50, 96)))
            img = np.asarray(Image.open(buf).convert("RGB"))
        yield img


def summarize(ps: np.ndarray) -> dict:
    return {
        "n": int(len(ps)),
        "detected_at_1e-6": int((ps <= DEFAULT_FPR).sum()),
        "min_p": float(ps.min()),
        "share_at_or_below": {str(a): float((ps <= a).mean()) for a in LEVELS},
    }


def _ranks_summing_to(w: int, k: int) -> np.ndarray:
    """A subset (k,) of the ranks 1..k whose sum is ``w`` (the largest first): the statistic ``w``, for
    ``signed_rank_tail``."""
    chosen = np.zeros(k, bool)
    for r in range(k, 0, -1):
        if r <= w:
            chosen[r - 1], w = True, w - r
    return chosen


class KeyedPValues:
    """Both tests' p-values of fixed readings ``logits`` (n, k) against any key, fast: the ranks of the bits' sizes do
    not depend on the key, and without ties the signed-rank statistic's law is the same for every row, so a key
    costs one weighted sum per row. Rows with tied sizes (rare for float logits) go through ``score_image``."""

    def __init__(self, logits: np.ndarray):
        self.logits, k = logits, logits.shape[1]
        self.ranks = np.argsort(np.argsort(np.abs(logits), axis=1), axis=1) + 1
        sizes = np.sort(np.abs(logits), axis=1)
        self.tied = np.flatnonzero((np.diff(sizes, axis=1) == 0).any(axis=1))
        self.rank_tail = np.array([signed_rank_tail(_ranks_summing_to(w, k), np.arange(1, k + 1))
                                   for w in range(k * (k + 1) // 2 + 1)])
        self.sign_tail = np.array([binomial_tail(m, k) for m in range(k + 1)])

    def __call__(self, carried: np.ndarray, test: str) -> np.ndarray:
        agree = (self.logits > 0) == np.asarray(carried, bool)
        if test == "sign":
            return self.sign_tail[agree.sum(axis=1)]
        ps = self.rank_tail[(self.ranks * agree).sum(axis=1)]
        for i in self.tied:
            ps[i] = score_image("", self.logits[i], carried, test).p_value
        return ps


def key_spread(logits: np.ndarray, keys: int, rng: np.random.Generator) -> dict:
    """How far one fixed key's share of p ≤ a strays from a, over ``keys`` random keys on the same readings
    ``logits`` (n, k) (the deep reader's logits do not depend on the key): per test, the mean share, its 90th
    percentile and its maximum over the keys, at each level, and how many (key, image) pairs reach each level."""
    p_values = KeyedPValues(logits)
    shares = {test: [] for test in TESTS}
    for _ in range(keys):
        carried = rng.integers(0, 2, logits.shape[1])
        for test, rows in shares.items():
            ps = p_values(carried, test)
            rows.append([(ps <= a).mean() for a in LEVELS])
    return {"keys": keys, "images": len(logits), **{test: {
        stat: dict(zip(map(str, LEVELS), fn(np.array(rows), axis=0).tolist()))
        for stat, fn in (("mean", np.mean), ("p90", lambda x, axis: np.quantile(x, 0.9, axis=axis)), ("max", np.max))}
        | {"pairs": dict(zip(map(str, LEVELS), np.rint(np.sum(rows, axis=0) * len(logits)).astype(int).tolist()))}
        for test, rows in shares.items()}}


def markdown(result: dict) -> str:
    """The tables of a result: shares of p ≤ a per key draw and test, and the fixed key's spread if measured."""
    meta = result["meta"]
    lines = [f"False positives of the {meta['scheme']} scheme on {meta['n']} clean images "
             "(detected at 1e-6, and share of p-values ≤ a)", "",
             "| key | detected | " + " | ".join(f"≤{a:g}" for a in LEVELS) + " |", "|---|---|" + "---|" * len(LEVELS)]
    for name in ("fixed_key", "fresh_key_per_image", "fixed_key_signed_rank", "fresh_key_per_image_signed_rank"):
        s = result[name]
        lines.append(f"| {name.replace('_', ' ')} | {s['detected_at_1e-6']} | "
                     + " | ".join(f"{s['share_at_or_below'][str(a)]:.4f}" for a in LEVELS) + " |")
    if "fixed_key_spread" in result:
        spread = result["fixed_key_spread"]
        shown = LEVELS[:5]
        lines += ["", f"One fixed key's share of p ≤ a over {spread['keys']} keys ({spread['images']} images): "
                  "mean / 90th percentile / max",
                  "", "| test | " + " | ".join(f"≤{a:g}" for a in shown) + " | (key, image) pairs with p ≤ 1e-6 |",
                  "|---|" + "---|" * (len(shown) + 1)]
        for test in TESTS:
            s = spread[test]
            pairs = s["pairs"][str(LEVELS[0])]
            lines.append(f"| {test} | "
                         + " | ".join(" / ".join(f"{s[stat][str(a)]:.4f}" for stat in ("mean", "p90", "max"))
                                      for a in shown)
                         + f" | {pairs} of {spread['keys'] * spread['images']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--scheme", choices=["deep", "spectral"], default="deep")
    ap.add_argument("--spread-keys", type=int, default=1000,
                    help="deep scheme: how many fixed keys the key-to-key spread is measured over (0: none)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    spectral = args.scheme == "spectral"
    fixed_key = generate_key(64, scheme=args.scheme)
    codec = SpectralCodec.for_key(fixed_key) if spectral else WatermarkCodec.from_pretrained(args.weights)
    photos = [np.rint(read_image(p).rgb_float() * 255).astype(np.uint8) for p in list_images(args.folders)]
    started = time.time()
    logits, batch, fresh_reads = [], [], []
    rng = np.random.default_rng(args.seed + 1)
    for img in clean_images(photos, args.n, args.seed):
        batch.append(codec.shrink(img.astype(np.float32) / 255))
        if spectral:  # a fresh key is a fresh layout: read the image again with it
            fresh_reads.append(SpectralCodec.for_key(generate_key(64, scheme="spectral")).extract([img])[0])
        if len(batch) == 64:
            logits.append(codec.read(torch.stack(batch)))
            batch = []
    if batch:
        logits.append(codec.read(torch.stack(batch)))
    logits = np.concatenate(logits)
    fixed = fixed_key.carried_bits().astype(bool)
    fresh = rng.integers(0, 2, logits.shape).astype(bool)
    fresh_logits = np.array(fresh_reads) if spectral else logits

    def p_values(readings: np.ndarray, keys: np.ndarray, test: str) -> np.ndarray:
        return np.array([score_image("", r, k, test).p_value for r, k in zip(readings, keys)])

    bias = (logits > 0).mean(axis=0)
    result = {
        "meta": {"date": str(date.today()), "machine": platform.machine(), "n": args.n, "seed": args.seed,
                 "scheme": args.scheme, "weights": args.weights or "shipped",
                 "seconds": round(time.time() - started, 1)},
        **{f"{name}{'' if test == 'sign' else '_signed_rank'}": summarize(p_values(r, k, test))
           for test in TESTS for name, r, k in (("fixed_key", logits, np.broadcast_to(fixed, logits.shape)),
                                                 ("fresh_key_per_image", fresh_logits, fresh))},
        **({"fixed_key_spread": key_spread(logits, args.spread_keys, rng)}
           if args.spread_keys and not spectral else {}),
        "extractor_bit_bias": {"mean_share_of_ones": float(bias.mean()),
                               "most_biased_bit_share": float(np.abs(bias - 0.5).max() + 0.5)},
        "clean_mean_abs_logit": float(np.abs(logits).mean()),
    }
    stem = "false_positives" + ("_spectral" if spectral else "")
    write_results(args.out, stem, result, markdown(result))


if __name__ == "__main__":
    main()
