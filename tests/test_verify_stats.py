from math import comb

import numpy as np
import pytest

from wm_plugin.verify import binomial_tail, combine, verdict


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


def test_combined_p_value_is_calibrated_for_a_biased_extractor_and_correlated_images():
    # An extractor that reads nearly the same word from every image (strong bias, images highly
    # correlated). Over random keys the combined p-value must still be uniform: P(p <= a) <= a.
    rng = np.random.default_rng(0)
    base = rng.normal(size=64) * 3 + 2.0  # biased towards 1s
    logits = base + rng.normal(size=(30, 64)) * 0.3
    ps = np.array([verdict(["x"] * 30, logits, rng.integers(0, 2, 64)).p_value for _ in range(4000)])
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
