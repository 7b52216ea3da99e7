"""Logo mode: a key made from a logo, the logo read back from marked images, a blank from clean ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from wm_cli.main import cli
from wm_plugin.codec import default_weights_dir
from wm_plugin.errors import KeyFileError
from wm_plugin.keys import generate_key
from wm_plugin.logo import logo_message, logo_picture, recovered_logo
from wm_plugin.verify import normalized_correlation, verdict

SAMPLES = str(default_weights_dir().parent / "samples")
LETTER_H = np.array([[c == "#" for c in row] for row in
                     ["........", ".##..##.", ".##..##.", ".######.", ".######.", ".##..##.", ".##..##.", "........"]])


@pytest.fixture
def logo_file(tmp_path):
    path = tmp_path / "logo.png"
    Image.fromarray(np.kron(LETTER_H.astype(np.uint8) * 255, np.ones((12, 12), np.uint8))).save(path)
    return path


def test_a_logo_becomes_the_message_row_by_row(logo_file):
    message = np.unpackbits(np.frombuffer(logo_message(logo_file, 64), np.uint8))
    assert np.array_equal(message.reshape(8, 8), LETTER_H)


def test_logos_need_a_square_number_of_bits_and_a_shape(logo_file, tmp_path):
    with pytest.raises(KeyFileError, match="square number of bits"):
        logo_message(logo_file, 72)
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((32, 32), 200, np.uint8)).save(flat)
    with pytest.raises(KeyFileError, match="one flat colour"):
        logo_message(flat, 64)


def test_the_recovered_logo_is_the_unscrambled_reading(logo_file):
    key = generate_key(64, message=logo_message(logo_file, 64))
    carried = key.carried_bits()
    confident = np.where(carried == 1, 8.0, -8.0)[None]  # logits that read every carried bit
    v = verdict(["a"], confident, carried)
    assert v.nc > 0.99 and v.images[0].nc > 0.99
    assert np.array_equal(recovered_logo(v.votes, key) > 128, LETTER_H)
    blank = verdict(["b"], np.zeros((1, 64)), carried)  # an extractor that reads nothing
    assert blank.nc == 0 and np.all(recovered_logo(blank.votes, key) == 128)
    assert logo_picture(recovered_logo(v.votes, key)).shape == (256, 256)


def test_normalized_correlation_of_opposite_and_unrelated_readings():
    bits = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    assert normalized_correlation(2.0 * bits - 1, bits) == pytest.approx(1.0)
    assert normalized_correlation(1.0 - 2.0 * bits, bits) == pytest.approx(-1.0)
    assert normalized_correlation(np.array([1, 1, 1, 1, -1, -1, -1, -1.0]), np.array([1, 0, 1, 0, 1, 0, 1, 0])) == 0


def test_keygen_logo_embed_verify_shows_the_logo_on_marked_images_and_a_blank_on_clean_ones(logo_file, tmp_path):
    runner = CliRunner()
    key = str(tmp_path / "owner.key")
    assert runner.invoke(cli, ["keygen", "-o", key, "--logo", str(logo_file)]).exit_code == 0
    marked = tmp_path / "marked"
    assert runner.invoke(cli, ["embed", "--key", key, SAMPLES, "-o", str(marked)]).exit_code == 0

    out = runner.invoke(cli, ["verify", "--key", key, "--outputs", str(marked),
                              "--logo-out", str(tmp_path / "read.png"), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert out.exit_code == 0 and doc["nc"] > 0.99 and doc["n_images_nc_above_0.95"] == doc["n_images"] == 4
    read = np.asarray(Image.open(tmp_path / "read.png"))
    assert np.array_equal(read[16::32, 16::32] > 128, LETTER_H)  # 8×8 cells of 32 px

    out = runner.invoke(cli, ["verify", "--key", key, "--outputs", SAMPLES, "--logo-out", str(tmp_path / "clean.png")])
    assert out.exit_code == 1 and "logo read: NC" in out.stdout
    blank = np.asarray(Image.open(tmp_path / "clean.png")).astype(int)
    assert np.abs(blank - 128).mean() < 64  # mostly grey: no confident reading, no logo

    again = runner.invoke(cli, ["verify", "--key", key, "--outputs", SAMPLES,
                                "--logo-out", str(tmp_path / "clean.png")])
    assert again.exit_code == 2 and "exists" in again.output  # nothing the user has is overwritten


def test_keygen_refuses_a_message_and_a_logo_together_and_a_non_square_logo_key(logo_file, tmp_path):
    runner = CliRunner()
    both = runner.invoke(cli, ["keygen", "-o", str(tmp_path / "a.key"), "--logo", str(logo_file),
                               "--message", "00" * 8])
    assert both.exit_code == 2 and "not both" in both.output
    odd = runner.invoke(cli, ["keygen", "-o", str(tmp_path / "b.key"), "--logo", str(logo_file), "--bits", "72"])
    assert odd.exit_code == 2 and "square number of bits" in odd.output
    assert not (tmp_path / "b.key").exists()
