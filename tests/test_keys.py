import json
import os
import stat

import numpy as np
import pytest

from wm_plugin.errors import KeyFileError, OutputExistsError
from wm_plugin.keys import generate_key, load_key, save_key


def test_roundtrip_keeps_seed_message_and_carried_bits(tmp_path):
    key = generate_key(64)
    save_key(key, tmp_path / "k.key")
    back = load_key(tmp_path / "k.key")
    assert back == key
    assert np.array_equal(back.carried_bits(), key.carried_bits())
    assert back.fingerprint == key.fingerprint and len(key.fingerprint) == 16


def test_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "k.key"
    save_key(generate_key(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        save_key(generate_key(), path)
    assert path.read_bytes() == before


def test_carried_bits_are_scrambled_by_the_seed():
    # Two keys with the same (all-zero) message must carry unrelated bits, and neither all zeros.
    a, b = generate_key(64, message=bytes(8)), generate_key(64, message=bytes(8))
    assert a.message == b.message == (0,) * 64
    assert 10 < a.carried_bits().sum() < 54
    assert (a.carried_bits() != b.carried_bits()).sum() > 10


def test_bits_option_sets_message_length():
    assert generate_key(128).carried_bits().shape == (128,)
    with pytest.raises(KeyFileError, match="multiple of 8"):
        generate_key(60)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=2), "version 2 key"),
        (lambda d: d.update(colour="red"), "unknown key field 'colour'"),
        (lambda d: d.pop("seed"), "missing key field 'seed'"),
        (lambda d: d.update(format="other"), "not a wm key file"),
        (lambda d: d.update(bits=72), "message has 64 bits"),
        (lambda d: d.update(seed="zz"), "hex"),
    ],
)
def test_bad_key_files_are_rejected_with_the_reason(tmp_path, mutate, message):
    path = tmp_path / "k.key"
    save_key(generate_key(), path)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match=message):
        load_key(path)


def test_not_json_and_missing_files(tmp_path):
    (tmp_path / "junk.key").write_bytes(b"\x89PNG garbage")
    with pytest.raises(KeyFileError, match="not JSON"):
        load_key(tmp_path / "junk.key")
    with pytest.raises(KeyFileError, match="not found"):
        load_key(tmp_path / "absent.key")
