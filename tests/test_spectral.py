"""The spectral scheme: a training-free mark that is a convolution, so it survives crops and is position-free."""

import json

import numpy as np
import pytest
import torch

from conftest import natural_like, seeded_key
from wm_plugin.errors import WatermarkError
from wm_plugin.io import read_image
from wm_plugin.keys import load_key, save_key
from wm_plugin.spectral import MARGIN, TILE, SpectralCodec, SpectralLayout, max_bits


@pytest.fixture(scope="module")
def spectral():
    key = seeded_key(3, scheme="spectral")
    return key, SpectralCodec.for_key(key), key.carried_bits()


def accuracy(codec, images, bits):
    return ((codec.extract(images) > 0) == bits.astype(bool)).mean(axis=1)


def test_keygen_writes_a_spectral_key_and_old_keys_read_as_deep(tmp_path, wm):
    assert wm("keygen", "--scheme", "spectral", "-o", tmp_path / "s.key").code == 0
    assert load_key(tmp_path / "s.key").scheme == "spectral"
    save_key(seeded_key(1), tmp_path / "d.key")
    doc = json.loads((tmp_path / "d.key").read_text())
    del doc["scheme"]  # a key written before schemes existed
    (tmp_path / "old.key").write_text(json.dumps(doc))
    assert load_key(tmp_path / "old.key").scheme == "deep"
    r = wm("keygen", "--scheme", "spectral", "--bits", "128", "-o", tmp_path / "big.key")
    assert r.code == 2 and f"at most {max_bits()} bits" in r.err and not (tmp_path / "big.key").exists()


def test_layout_is_secret_per_seed_and_reproducible():
    a, b = SpectralLayout.from_seed(b"\1" * 32, 64), SpectralLayout.from_seed(b"\2" * 32, 64)
    assert np.array_equal(a.centers, SpectralLayout.from_seed(b"\1" * 32, 64).centers)
    assert not np.array_equal(a.centers, b.centers)
    radii = np.hypot(*a.centers.T)
    assert radii.min() >= 0.06 - 1e-9 and radii.max() <= 0.33 + 1e-9


def test_cli_embed_verify_detects_marked_and_not_originals(tmp_path, monkeypatch, wm, sample_paths):
    monkeypatch.chdir(tmp_path)
    save_key(seeded_key(4, scheme="spectral"), "s.key")
    assert wm("embed", "--key", "s.key", *sample_paths, "-o", "marked").code == 0
    r = wm("verify", "--key", "s.key", "--outputs", "marked", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)
    assert v["detected"] and v["n_images_detected"] == len(sample_paths) and v["bit_accuracy"] > 0.85
    assert wm("verify", "--key", "s.key", "--outputs", sample_paths[0].parent).code == 1
    # The learned networks' settings do not apply to a spectral key: one clear line, nothing written.
    r = wm("embed", "--key", "s.key", sample_paths[0], "-o", "other", "--psnr", "40")
    assert r.code == 2 and r.err.count("\n") == 1 and "spectral scheme" in r.err
    assert not (tmp_path / "other").exists()


def test_mark_is_invisible_enough_and_read_at_chance_on_clean_images(spectral, sample_paths):
    key, codec, bits = spectral
    photos = [read_image(p).pixels for p in sample_paths]
    marked = [codec.mark(p, bits) for p in photos]
    psnr = [10 * np.log10(255**2 / np.mean((m.astype(float) - p) ** 2)) for m, p in zip(marked, photos)]
    assert min(psnr) > 36 and np.median(psnr) > 39
    assert accuracy(codec, marked, bits).min() > 0.85
    assert 0.3 < accuracy(codec, photos, bits).mean() < 0.7


def test_crops_at_any_offset_stay_marked(spectral, sample_paths):
    """What the learned codec cannot do (its carriers are tied to frame position): a crop reads the mark."""
    key, codec, bits = spectral
    marked = codec.mark(read_image(sample_paths[0]).pixels, bits)
    crops = [marked[y : y + 200, x : x + 240] for y, x in [(0, 0), (37, 91), (101, 13)]]
    assert accuracy(codec, crops, bits).min() > 0.75  # 48 of 64 bits: p = 4e-5 for a 200×240 crop


def test_marking_commutes_with_translation(spectral):
    """The mark of a crop is the crop of the mark (away from the borders): a convolution, position-free."""
    key, codec, bits = spectral
    image = torch.from_numpy(natural_like(5, 320, 320).mean(axis=2).astype(np.float32))
    whole = codec.residual(image, bits)
    shifted = codec.residual(image[37:, 53:], bits)
    inner = (slice(MARGIN, 320 - 37 - MARGIN), slice(MARGIN, 320 - 53 - MARGIN))
    err = (whole[37:, 53:][inner] - shifted[inner]).abs().max() / whole.abs().max()
    assert err < 0.02


def test_tiles_leave_no_seams(spectral):
    """Marking tile by tile equals filtering the whole image in one piece, at tile borders as inside."""
    key, codec, bits = spectral
    side = 2 * TILE + 100
    image = torch.from_numpy(natural_like(6, side, side).mean(axis=2).astype(np.float32))
    tiled = codec.residual(image, bits)
    padded = torch.nn.functional.pad(image[None, None], (MARGIN,) * 4, mode="reflect")[0, 0]
    response = codec._response(*padded.shape, np.asarray(bits, np.uint8).tobytes())
    whole = torch.fft.irfft2(torch.fft.rfft2(padded) * response, s=padded.shape)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    seam = slice(TILE - 8, TILE + 8)
    assert (tiled - whole).abs().max() / whole.abs().max() < 0.02
    assert (tiled[seam] - whole[seam]).abs().max() / whole.abs().max() < 0.02


def test_reader_is_differentiable_for_training(spectral):
    """Absorbing trains a model through the reader: gradients reach the image."""
    key, codec, bits = spectral
    x = torch.from_numpy(natural_like(7, 128, 128).transpose(2, 0, 1).copy())[None].requires_grad_()
    logits = codec.logits(codec.energies(x.mean(dim=1)))
    assert logits.shape == (1, 64)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_too_many_bits_and_bad_strength_are_refused():
    with pytest.raises(WatermarkError, match="at most"):
        SpectralLayout.from_seed(b"\0" * 32, max_bits() + 8)
    with pytest.raises(WatermarkError, match="strength"):
        SpectralCodec(SpectralLayout.from_seed(b"\0" * 32, 64), strength=1.5)


def test_flag_refuses_the_learned_networks_settings_with_a_spectral_key(tmp_path):
    from wm_plugin.errors import ConfigError
    from wm_plugin.flag import parse_flag

    save_key(seeded_key(12, scheme="spectral"), tmp_path / "s.key")
    assert parse_flag({"key": "s.key"}, base_dir=tmp_path).key.scheme == "spectral"
    with pytest.raises(ConfigError, match=r"watermark\.psnr: .* spectral key"):
        parse_flag({"key": "s.key", "psnr": 40}, base_dir=tmp_path)
