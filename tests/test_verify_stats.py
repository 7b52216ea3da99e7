import itertools
from math import comb

import numpy as np
import pytest

from wm_plugin.verify import TESTS, binomial_tail, combine, signed_rank_tail, verdict


def test_binomial_tail_is_exact():
    assert binomial_tail(64, 64) == 2.0**-64
    assert binomial_tail(0, 64) == 1.0
    assert binomial_tail(65, 64) == 0.0
    assert binomial_tail(40, 64) == pytest.approx(sum(comb(64, i) for i in range(40, 65)) / 2**64, rel=1e-15)
    # the smallest match count that reaches the default 1e-6 target at 64 bits
    assert binomial_tail(51, 64) <= 1e-6 < binomial_tail(50, 64)


def test_vote_lets_no_single_image_dominate():
    logits = np.array([[50.0, 50.0], [-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0]])
    assert combine(logits).tolist() == [0, 0]


def test_signed_rank_tail_is_exact_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(40):
        k = int(rng.integers(1, 11))
        reading = np.round(rng.normal(size=k), 1)  # rounded: ties in size, and some zeros
        agree = rng.integers(0, 2, k).astype(bool)
        size = np.abs(reading)
        ranks = np.array([(size < m).sum() + ((size == m).sum() + 1) / 2 for m in size])  # mean ranks
        w = ranks[agree].sum()
        count = sum(ranks[list(b)].sum() >= w - 1e-9 for b in itertools.product([False, True], repeat=k))
        assert signed_rank_tail(agree, reading) == pytest.approx(count / 2**k, abs=1e-15)
    assert signed_rank_tail(np.ones(128, bool), rng.normal(size=128)) == 2.0**-128  # the same floor as the sign test
    assert signed_rank_tail(np.zeros(128, bool), rng.normal(size=128)) == 1.0


def test_signed_rank_weighs_confident_bits_higher_and_reads_the_same_word():
    # Readings with Gaussian error about a faint mark (what a worn trigger response gives): the signed-rank
    # test's p-value is far below the sign test's on the same word.
    rng = np.random.default_rng(1)
    carried = rng.integers(0, 2, 128).astype(np.uint8)
    gains = []
    for _ in range(20):
        logits = (2.0 * carried - 1) * 0.5 + rng.normal(size=(4, 128))
        sign, ranked = verdict(list("abcd"), logits, carried, test="sign"), verdict(list("abcd"), logits, carried)
        assert sign.matches == ranked.matches
        gains.append(np.log10(sign.p_value / ranked.p_value))
    assert np.median(gains) > 2 and np.mean(np.array(gains) > 0) >= 0.9  # not every time: it is a different test
    assert "signed-rank" in ranked.method and "binomial" in sign.method
    with pytest.raises(ValueError, match="unknown test"):
        verdict(["a"], logits[:1], carried, test="t")


@pytest.mark.parametrize("test", TESTS)
def test_combined_p_value_is_calibrated_for_a_biased_extractor_and_correlated_images(test):
    # An extractor that reads nearly the same word from every image (strong bias, images highly
    # correlated). Over random keys the combined p-value must still be uniform: P(p <= a) <= a.
    rng = np.random.default_rng(0)
    base = rng.normal(size=64) * 3 + 2.0  # biased towards 1s
    logits = base + rng.normal(size=(30, 64)) * 0.3
    ps = np.array([verdict(["x"] * 30, logits, rng.integers(0, 2, 64), test=test).p_value for _ in range(4000)])
    for a in (0.01, 0.05, 0.2, 0.5):
        assert (ps <= a).mean() <= a + 3 * np.sqrt(a * (1 - a) / len(ps))
    assert (ps <= 0.5).mean() > 0.35  # and not trivially conservative


def test_verdict_reports_the_numbers_behind_it():
    carried = np.array([1, 0] * 32, np.uint8)
    logits = np.where(carried, 4.0, -4.0)[None].repeat(3, axis=0)
    v = verdict(["a", "b", "c"], logits, carried)
    d = v.to_dict()
    assert d["detected"] is True and d["verdict"] == "detected"
    assert d["p_value"] == 2.0**-64 and d["bit_accuracy"] == 1.0 and d["n_images"] == 3
    assert d["fpr_target"] == 1e-6 and d["n_images_detected"] == 3
    clean = verdict(["a"], -logits[:1], carried)
    assert not clean.detected and clean.p_value == 1.0
