"""The shipped extractor never accuses clean images: a small seeded version of benchmarks/false_positives.py."""

import numpy as np
import pytest
import torch

from conftest import natural_like, seeded_key
from wm_plugin.io import read_image
from wm_plugin.verify import TESTS, score_image, verdict


def _clean_crops(sample_paths, n, seed=0):
    rng = np.random.default_rng(seed)
    photos = [read_image(p).rgb_float() for p in sample_paths]
    for i in range(n):
        if i % 4 == 3:
            yield natural_like(int(rng.integers(1 << 30)), 96, 96).astype(np.float32)
            continue
        p = photos[rng.integers(len(photos))]
        h, w = p.shape[:2]
        ch, cw = int(rng.integers(48, h + 1)), int(rng.integers(48, w + 1))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        yield p[y : y + ch, x : x + cw]


@pytest.fixture(scope="module")
def clean_logits(codec, sample_paths):
    """The shipped extractor's logits (400, 64) on 400 seeded clean crops, read once for both tests."""
    return codec.read(torch.stack([codec.shrink(img) for img in _clean_crops(sample_paths, 400)]))


@pytest.mark.parametrize("test", TESTS)
def test_no_clean_image_is_detected_and_p_values_are_not_small(clean_logits, test):
    logits = clean_logits
    rng = np.random.default_rng(1)
    fixed = seeded_key(4).carried_bits()
    for carried in (np.broadcast_to(fixed, logits.shape), rng.integers(0, 2, logits.shape)):
        ps = np.array([score_image("", r, c, test).p_value for r, c in zip(logits, carried)])
        assert (ps <= 1e-6).sum() == 0
        assert (ps <= 1e-3).mean() <= 0.01
        assert (ps <= 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(ps))


def test_folder_of_clean_images_is_not_detected(codec, sample_paths):
    imgs = list(_clean_crops(sample_paths, 64, seed=2))
    logits = codec.extract(imgs)
    for i in range(20):
        assert not verdict(["x"] * len(imgs), logits, seeded_key(100 + i).carried_bits()).detected
