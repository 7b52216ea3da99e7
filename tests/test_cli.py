"""The ``wm`` command line end to end, on real images, through the console-script entry point."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import natural_like


@pytest.fixture
def photos(tmp_path, sample_paths):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_paths[:3]:
        shutil.copy(p, folder / p.name)
    return folder


def test_keygen_embed_extract_verify(wm, tmp_path, photos):
    key = tmp_path / "owner.key"
    assert wm("keygen", "-o", key).code == 0
    res = wm("embed", "--key", key, photos, "-o", tmp_path / "marked", "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["n_images"] == 3 and all(r["psnr"] > 41 for r in out["images"])

    one = sorted((tmp_path / "marked").iterdir())[0]
    res = wm("extract", "--key", key, one, "--json")
    assert res.code == 0
    row = json.loads(res.out)["images"][0]
    assert row["bit_accuracy"] > 0.9
    assert row["message"] == json.loads(key.read_text())["message"] or row["bit_accuracy"] < 1

    res = wm("verify", "--key", key, "--outputs", tmp_path / "marked", "--json")
    assert res.code == 0, res.err
    v = json.loads(res.out)
    assert v["detected"] is True and v["p_value"] < 1e-6 and v["n_images"] == 3
    assert {"detected", "p_value", "bit_accuracy", "n_images", "fpr_target"} <= set(v)

    res = wm("verify", "--key", key, "--outputs", photos)
    assert res.code == 1 and "NOT DETECTED" in res.out


def test_embed_keeps_formats_and_never_overwrites(wm, tmp_path):
    key = tmp_path / "k.key"
    wm("keygen", "-o", key)
    src = tmp_path / "in"
    src.mkdir()
    img = (natural_like(3, 80, 120) * 255).astype(np.uint8)
    Image.fromarray(img).save(src / "a.jpg", quality=95)
    Image.fromarray(np.dstack([img, np.full(img.shape[:2], 128, np.uint8)])).save(src / "b.png")
    assert wm("embed", "--key", key, src, "-o", tmp_path / "out").code == 0
    assert Image.open(tmp_path / "out" / "a.jpg").format == "JPEG"
    b = Image.open(tmp_path / "out" / "b.png")
    assert b.mode == "RGBA" and np.all(np.asarray(b)[..., 3] == 128)
    before = (tmp_path / "out" / "a.jpg").read_bytes()
    res = wm("embed", "--key", key, src, "-o", tmp_path / "out")
    assert res.code == 2 and "--force" in res.err
    assert (tmp_path / "out" / "a.jpg").read_bytes() == before
    res = wm("embed", "--key", key, src / "a.jpg", "-o", src)
    assert res.code == 2 and "own input" in res.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "--key", "{key}", "--outputs", "{tmp}/missing"], "no such file or folder"),
        (["verify", "--key", "{key}", "--outputs", "{tmp}/empty"], "no images"),
        (["verify", "--key", "{tmp}/notakey.png", "--outputs", "{tmp}/imgs"], "not a wm key file"),
        (["verify", "--key", "{tmp}/missing.key", "--outputs", "{tmp}/imgs"], "key file not found"),
        (["verify", "--key", "{key}", "--outputs", "{tmp}/imgs/bad.png"], "not a readable image"),
        (["verify", "--key", "{key}", "--outputs", "{tmp}/imgs", "--fpr", "2"], "between 0 and 1"),
        (["extract", "--key", "{key}", "{tmp}/imgs/empty.png"], "empty file"),
        (["embed", "--key", "{key}", "{tmp}/imgs/ok.png"], "Missing option '-o'"),
        (["keygen", "-o", "{tmp}/k2.key", "--bits", "12"], "multiple of 8"),
        (["verify", "--key", "{key}", "--outputs", "{tmp}/imgs", "--device", "tpu"], "'tpu' is not one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(wm, tmp_path, args, message):
    key = tmp_path / "k.key"
    wm("keygen", "-o", key)
    (tmp_path / "empty").mkdir()
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "imgs" / "ok.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "notakey.png")
    (tmp_path / "imgs" / "bad.png").write_bytes(b"this is not a png")
    (tmp_path / "imgs" / "empty.png").write_bytes(b"")
    res = wm(*[a.format(key=key, tmp=tmp_path) for a in args])
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], res.err
    assert "Traceback" not in res.err


def test_demo_detects_marked_and_clears_originals(wm, tmp_path):
    res = wm("demo", "--out", tmp_path / "demo", "--json")
    assert res.code == 0, res.err
    d = json.loads(res.out)
    assert d["ok"] and d["marked"]["detected"] and not d["original"]["detected"]
    assert d["mean_psnr"] > 41.5 and len(d["images"]) == 4
    assert (tmp_path / "demo" / "owner.key").exists()
    # the bundled BasicSR model, protected: its outputs detected, the original model's not
    m = d["model"]
    assert m["framework"] == "basicsr" and m["ok"] and m["protected"]["detected"] and not m["original"]["detected"]
    assert m["psnr_vs_original"] > 41.5 and m["protected"]["n_images"] == 4
    assert ((tmp_path / "demo" / "model" / "srvgg_x2.pth").exists()
            and (tmp_path / "demo" / "model" / "srvgg_x2.yml").exists())


def test_help_and_version(wm):
    res = wm("--help")
    assert res.code == 0 and "verify" in res.out and "embed" in res.out
    res = wm("--version")
    assert res.code == 0 and "0.1.0" in res.out
