"""Large images are marked in horizontal strips (wm_plugin.strips): the same mark, no seams at strip borders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import natural_like
from wm_plugin.strips import mark_in_strips

ROWS = 64


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return 10 * np.log10(peak**2 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.rint(natural_like(4, 530, 700) * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["rgb8", "grey8", "rgb16"])
def test_strips_give_the_whole_image_result(kind, image, codec, key):
    pixels = {"rgb8": image, "grey8": image[..., :1].copy(), "rgb16": image.astype(np.uint16) * 257}[kind]
    peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
    whole = codec.mark(pixels, key.carried_bits())  # small enough for the one-piece path
    with torch.no_grad():
        strips = mark_in_strips(codec.embedder, pixels, codec.patterns(key.carried_bits()), codec.psnr, peak=peak,
                                rows=ROWS)
    diff = np.abs(whole.astype(np.int64) - strips)
    assert strips.dtype == pixels.dtype and strips.shape == pixels.shape
    # Float rounding only, anywhere in the image: one 8-bit level; at 16 bits float32's ~7 digits show as a
    # few of the 65,535 levels (still under 1/10,000 of the range).
    assert diff.max() <= (1 if peak == 255 else 4)
    assert (diff > (0 if peak == 255 else 1)).mean() < 1e-3


def test_no_seams_at_strip_borders(image, codec, key):
    with torch.no_grad():
        strips = mark_in_strips(codec.embedder, image, codec.patterns(key.carried_bits()), codec.psnr, peak=255.0,
                                rows=ROWS)
    whole = codec.mark(image, key.carried_bits())
    borders = np.zeros(image.shape[0], bool)
    for b in range(ROWS, image.shape[0], ROWS):
        borders[b - 3 : b + 3] = True
    for rows in (borders, ~borders):  # mark strength at the borders and inside: as in the one-piece result
        assert _psnr(image[rows], strips[rows], 255) == pytest.approx(_psnr(image[rows], whole[rows], 255), abs=0.01)
    read, read_whole = codec.extract([strips, whole]) > 0
    assert np.array_equal(read, read_whole)  # the bits come back as from the one-piece mark
    assert (read == key.carried_bits().astype(bool)).mean() >= 0.95


def test_codec_switches_to_strips_above_the_threshold(image, codec, key, monkeypatch):
    import wm_plugin.codec as codec_module

    whole = codec.mark(image, key.carried_bits())
    monkeypatch.setattr(codec_module, "STRIP_PIXELS", 1000)
    calls = []
    real = codec_module.mark_in_strips
    monkeypatch.setattr(codec_module, "mark_in_strips", lambda *a, **k: calls.append(1) or real(*a, **k))
    striped = codec.mark(image, key.carried_bits())
    assert calls and np.abs(striped.astype(int) - whole).max() <= 1
