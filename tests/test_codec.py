"""The shipped networks on real (tiny) images: fidelity, reading the mark back, and clean controls."""

import numpy as np
import pytest

from conftest import natural_like, seeded_key
from wm_plugin.api import embed, extract
from wm_plugin.io import Picture, read_image
from wm_plugin.verify import verdict


@pytest.mark.parametrize("hw", [(128, 128), (256, 256), (300, 451), (720, 1280)])
def test_mark_reads_back_at_any_size_and_clean_images_do_not(codec, key, hw):
    img = natural_like(sum(hw), *hw).astype(np.float32)
    carried = key.carried_bits()
    marked = np.rint(codec.embed(img, carried) * 255) / 255  # as stored in an 8-bit file
    psnr = 10 * np.log10(1 / np.mean((marked - img) ** 2))
    assert psnr > 41.5
    logits = codec.extract([marked.astype(np.float32), img])
    acc = ((logits > 0) == carried.astype(bool)).mean(axis=1)
    assert acc[0] >= 0.95, acc
    assert verdict(["m"], logits[:1], carried).detected
    assert not verdict(["c"], logits[1:], carried).detected


def test_strength_sets_the_psnr(codec, key):
    from wm_plugin.codec import WatermarkCodec

    img = natural_like(1, 128, 128).astype(np.float32)
    faint = WatermarkCodec(codec.embedder, codec.extractor, psnr=48.0)
    mse = np.mean((faint.embed(img, key.carried_bits()) - img) ** 2)
    assert 10 * np.log10(1 / mse) == pytest.approx(48.0, abs=0.3)


def test_wrong_key_is_not_detected_on_marked_images(codec, sample_paths):
    owner, other = seeded_key(1), seeded_key(2)
    pics = [embed(read_image(p), owner, codec=codec) for p in sample_paths]
    logits = extract(pics, codec=codec)
    assert verdict([str(p) for p in sample_paths], logits, owner.carried_bits()).detected
    assert not verdict([str(p) for p in sample_paths], logits, other.carried_bits()).detected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_alpha_and_16_bit_survive_embedding(codec, key, dtype):
    hi = np.iinfo(dtype).max
    grey = (natural_like(7, 128, 160)[..., :1] * hi).astype(dtype)
    alpha = np.random.default_rng(0).integers(0, hi, (128, 160)).astype(dtype)
    pic = Picture(grey, alpha)
    marked = embed(pic, key, codec=codec)
    assert marked.pixels.dtype == dtype and marked.pixels.shape == (128, 160, 1)
    assert np.array_equal(marked.alpha, alpha)  # alpha untouched, bit for bit
    assert not np.array_equal(marked.pixels, grey)
    logits = extract([marked], codec=codec)
    assert ((logits[0] > 0) == key.carried_bits().astype(bool)).mean() >= 0.95


def test_key_length_must_match_the_networks(codec):
    from wm_plugin.errors import WeightsError

    with pytest.raises(WeightsError, match="carry 64 bits but the key has 128"):
        codec.embed(np.zeros((32, 32, 3), np.float32), seeded_key(3, bits=128).carried_bits())


def test_detail_gain_keeps_the_mark_out_of_flat_areas(codec, key):
    img = natural_like(5, 256, 512).astype(np.float32)
    img[:, :256] = 0.5  # left half flat
    res = codec.embed(img, key.carried_bits()) - img
    flat, textured = np.abs(res[:, 16:240]).mean(), np.abs(res[:, 272:496]).mean()
    assert codec.embedder.detail_floor is not None
    assert flat < 0.25 * textured, (flat, textured)


def test_a_barrier_cast_to_bf16_marks_like_the_fp32_one(codec, key):
    """What ``.bfloat16()`` on a protected model does to the learned barrier (GPU serving): same mark, tiny drift."""
    import torch

    from wm_plugin.barrier import WatermarkBarrier

    barrier = WatermarkBarrier.from_pretrained(torch.nn.Identity(), key.carried_bits())
    x = torch.from_numpy(natural_like(11, 192, 256).astype(np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref = barrier(x)
        low = barrier.bfloat16()(x.bfloat16())
    assert low.dtype == torch.bfloat16
    assert 10 * torch.log10(1 / (low.float() - ref).square().mean()) > 40  # dB between the two outputs
    pixels = (low[0].float().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert verdict(["x"], codec.extract([pixels]), key.carried_bits()).detected
