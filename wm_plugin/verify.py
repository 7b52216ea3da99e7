"""Scores and verdicts: exact p-values per image, and a combined test over many images.

Null hypothesis: the suspect's images were not marked with this key. The key's carried bits are a
keystream drawn from a secret seed, independent of any image and of any extractor, so under the null each
extracted bit agrees with the key's bit with probability exactly 1/2, independently across bits, whatever
the image and whatever biases the extractor has; and independently of how large each bit's reading is.

* Per image, one of two exact tests (``TESTS``):
  - ``signed-rank`` (Wilcoxon, every verdict's): the bits are ranked by the size of their reading, and the
    statistic is the sum of the ranks of the bits that agree; p = P(W ≥ w) where W sums each rank 1..k with
    probability 1/2, computed exactly. It weighs a confident bit above a faint one, which is right where a
    reading is an estimate with roughly Gaussian error (a worn trigger response, a spectral mark a surrogate
    half-learned, a JPEG'd image): under such error it needs about two thirds of the bits the sign test needs
    for the same evidence (asymptotic efficiencies 3/π and 2/π; measured: BENCHMARKS.md, "The signed-rank
    test"). The null above covers it unchanged, since under it the key's bits are fair coins independent of
    the readings.
  - ``sign``: ``m`` of ``k`` bits agree; p = P(Binomial(k, 1/2) ≥ m). Sizes ignored. Kept for comparison: the
    images' marks were tested by it until 2026-11-27, and older figures in BENCHMARKS.md are its.
* Over a folder: the images' soft bits are summed into one k-bit word (a soft majority vote), and that one
  word is tested the same way. The word is a function of the images only, so the null argument above holds
  for it unchanged: the p-value is exact however the images depend on each other (frames of one video,
  crops of one photo, outputs of one model). The price is a floor of 2^-k on the p-value, 5.4e-20 at 64
  bits (for either test: every bit agreeing); multiplying per-image p-values instead would be overconfident
  for correlated images. The signed-rank test ranks the voted word's bits by the size of their summed vote.

Beside the test, the seed paper's measure for its logo mode: NC, the normalized correlation between the soft
reading (tanh(logit / 2) per bit, in [-1, 1]) and the key's bits as ±1. 1: every bit read, confidently;
near 0: nothing read. It is a description, not a test: the p-value is what decides. With a key made from a
logo (``wm keygen --logo``) the reading, unscrambled, is the owner's logo (``wm_plugin.logo``).
"""

from __future__ import annotations

import dataclasses
import functools
from fractions import Fraction
from math import comb
from typing import Sequence

import numpy as np

__all__ = ["DEFAULT_FPR", "NC_THRESHOLD", "TESTS", "ImageScore", "Verdict", "binomial_tail", "score_image", "combine",
           "normalized_correlation", "signed_rank_tail", "soft_bits", "verdict"]

DEFAULT_FPR = 1e-6
NC_THRESHOLD = 0.95  # the seed paper's success criterion for a recovered logo
TESTS = {"signed-rank": "exact Wilcoxon signed-rank test", "sign": "exact binomial (sign) test"}


def binomial_tail(matches: int, k: int) -> float:
    """P(X ≥ ``matches``) for X ~ Binomial(k, 1/2), exact (rounded once to float)."""
    if matches <= 0:
        return 1.0
    if matches > k:
        return 0.0
    return float(Fraction(sum(comb(k, i) for i in range(matches, k + 1)), 2**k))


def signed_rank_tail(agree: np.ndarray, magnitude: np.ndarray) -> float:
    """P(W ≥ w), exact: ``w`` the sum of the ranks of ``magnitude`` (k,) over the bits that ``agree`` (k,), W the
    same sum when each bit agrees with probability 1/2 independently. Tied magnitudes share their mean rank."""
    magnitude = np.abs(np.asarray(magnitude, np.float64))
    _, group, count = np.unique(magnitude, return_inverse=True, return_counts=True)
    below = np.concatenate([[0], np.cumsum(count)[:-1]])
    ranks = (2 * below + count + 1)[group]  # twice the mean rank of each bit: an integer
    w = int(ranks[np.asarray(agree, bool)].sum())  # twice the statistic
    return float(min(1.0, _tail(tuple(sorted(ranks.tolist())))[w]))


@functools.lru_cache(maxsize=64)
def _tail(ranks: tuple[int, ...]) -> np.ndarray:
    """P(2W ≥ v) for every v, where 2W sums each of ``ranks`` (sorted: the law ignores their order) with probability
    1/2. Cached: without ties the ranks of k bits are always 2, 4, …, 2k, so the usual case is computed once per k."""
    law = np.zeros(sum(ranks) + 1)  # the law of 2W, built one bit at a time
    law[0] = 1.0
    for r in ranks:
        law[r:] = 0.5 * (law[r:] + law[:-r])
        law[:r] *= 0.5
    # Each tail summed from its small end: P(2W ≥ v) directly in the upper half and, since 2W and sum(ranks) − 2W
    # have the same law, as 1 − P(2W ≥ sum(ranks) + 1 − v) in the lower half.
    upper = np.append(np.cumsum(law[::-1])[::-1], 0.0)
    v = np.arange(len(law))
    tail = np.where(2 * v <= len(law) - 1, 1 - upper[len(law) - v], upper[:-1])
    tail.flags.writeable = False  # shared by every caller through the cache
    return tail


@dataclasses.dataclass(frozen=True)
class ImageScore:
    """One image's reading against a key."""

    name: str
    matches: int
    bits: int
    p_value: float
    nc: float = 0.0

    @property
    def bit_accuracy(self) -> float:
        return self.matches / self.bits

    def to_dict(self) -> dict:
        return {"name": self.name, "matches": self.matches, "bits": self.bits,
                "bit_accuracy": self.bit_accuracy, "p_value": self.p_value, "nc": self.nc}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of a verification, with the numbers behind it."""

    detected: bool
    p_value: float
    matches: int
    bits: int
    fpr_target: float
    images: tuple[ImageScore, ...]
    test: str = "signed-rank"  # one of ``TESTS``
    votes: tuple[float, ...] = ()  # the mean soft reading per bit, in [-1, 1] (``soft_bits``)
    nc: float = 0.0  # NC of ``votes`` with the key's bits

    @property
    def method(self) -> str:
        """How the p-value was computed, in words."""
        return f"soft majority vote over images, {TESTS[self.test]} on k key-scrambled bits"

    @property
    def n_images_nc(self) -> int:
        """Images whose own NC exceeds ``NC_THRESHOLD``."""
        return sum(s.nc > NC_THRESHOLD for s in self.images)

    @property
    def n_images(self) -> int:
        return len(self.images)

    @property
    def bit_accuracy(self) -> float:
        """Mean per-image bit accuracy."""
        return float(np.mean([s.bit_accuracy for s in self.images])) if self.images else 0.0

    @property
    def combined_bit_accuracy(self) -> float:
        """Bit accuracy of the combined (voted) word."""
        return self.matches / self.bits

    @property
    def n_images_detected(self) -> int:
        return sum(s.p_value <= self.fpr_target for s in self.images)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "detected": self.detected,
            "verdict": "detected" if self.detected else "not detected",
            "p_value": self.p_value,
            "fpr_target": self.fpr_target,
            "bit_accuracy": self.bit_accuracy,
            "combined_bit_accuracy": self.combined_bit_accuracy,
            "matches": self.matches,
            "bits": self.bits,
            "n_images": self.n_images,
            "n_images_detected": self.n_images_detected,
            "nc": self.nc,
            "n_images_nc_above_0.95": self.n_images_nc,
            "test": self.test,
            "method": self.method,
            "images": [s.to_dict() for s in self.images],
        }


def soft_bits(logits: np.ndarray) -> np.ndarray:
    """Each logit as a soft bit in [-1, 1]: tanh(logit / 2), i.e. 2·P(bit = 1) − 1."""
    return np.tanh(np.asarray(logits, np.float64) / 2)


def normalized_correlation(soft: np.ndarray, carried: np.ndarray) -> float:
    """NC between soft bits (k,) in [-1, 1] and the carried bits (k,) of 0/1 taken as ±1; 0 for an empty reading."""
    soft = np.asarray(soft, np.float64)
    norm = np.linalg.norm(soft) * np.sqrt(len(soft))
    return float(soft @ (2.0 * np.asarray(carried, np.float64) - 1) / norm) if norm > 0 else 0.0


def _p_value(agree: np.ndarray, magnitude: np.ndarray, test: str) -> float:
    """``test``'s p-value for the bits that ``agree`` (k,) with the key, read with sizes ``magnitude`` (k,)."""
    return binomial_tail(int(agree.sum()), len(agree)) if test == "sign" else signed_rank_tail(agree, magnitude)


def score_image(name: str, logits: np.ndarray, carried: np.ndarray, test: str = "signed-rank") -> ImageScore:
    """Score one image's extractor logits (k,) against the key's carried bits (k,) of 0/1 with ``test``."""
    agree = (np.asarray(logits) > 0) == np.asarray(carried, bool)
    return ImageScore(name, int(agree.sum()), len(carried), _p_value(agree, logits, test),
                      normalized_correlation(soft_bits(logits), carried))


def combine(logits: np.ndarray) -> np.ndarray:
    """The soft-voted word (k,) of 0/1 from logits (n, k): the sign of the summed tanh(logit / 2).

    Each image contributes a vote in [-1, 1] per bit, so no single image outweighs the rest. A tied bit (sum
    exactly 0) is read as 0; it agrees with the key with probability 1/2 like any other.
    """
    return (soft_bits(logits).sum(axis=0) > 0).astype(np.uint8)


def verdict(names: Sequence[str], logits: np.ndarray, carried: np.ndarray, *, fpr_target: float = DEFAULT_FPR,
            test: str = "signed-rank") -> Verdict:
    """Per-image scores and the combined test for ``logits`` (n, k) against ``carried`` (k,), both by ``test``
    (one of ``TESTS``).

    Raises:
        ValueError: no images, logits and key of different lengths, or an unknown test.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; known: {', '.join(TESTS)}")
    logits = np.asarray(logits, np.float64).reshape(len(names), -1)
    carried = np.asarray(carried, np.uint8)
    if not len(names):
        raise ValueError("nothing to verify: no images")
    if logits.shape[1] != len(carried):
        raise ValueError(f"extractor reads {logits.shape[1]} bits but the key has {len(carried)}")
    scores = tuple(score_image(n, l, carried, test) for n, l in zip(names, logits))
    agree = combine(logits) == carried
    votes = soft_bits(logits).mean(axis=0)
    p = _p_value(agree, votes, test)
    return Verdict(p <= fpr_target, p, int(agree.sum()), len(carried), fpr_target, scores, test,
                   votes=tuple(votes.tolist()), nc=normalized_correlation(votes, carried))
