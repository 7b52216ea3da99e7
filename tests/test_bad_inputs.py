"""Every bad input gets one ``Error:`` line on stderr and exit 2 — never a traceback — and leaves every file as it was.

One folder of bad things is built once (images, keys, checkpoints, configs for both frameworks); each case
runs the real ``wm`` CLI on it and checks the message, the exit code, that no file changed, and that
nothing half-written was left behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import wm_basicsr  # noqa: F401  (before basicsr and torchvision)  # isort: skip
import wm_mmagic  # noqa: F401  # isort: skip
from basicsr.archs.rrdbnet_arch import RRDBNet
from PIL import Image

from conftest import seeded_key

ROOT = Path(__file__).parent.parent
RRDB_YML = ROOT / "zoo_configs" / "basicsr" / "tiny" / "test_rrdbnet_tiny_x4.yml"
EDSR_PY = ROOT / "zoo_configs" / "mmagic" / "tiny" / "edsr_tiny_x2.py"
CREATED = "created_by_pickle.txt"


class _Payload:
    """Unpickling this would create a file: the classic pickled-code attack."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """The folder of bad inputs (and a few good ones to pair them with)."""
    from wm_plugin.keys import save_key

    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    (d / "imgs").mkdir()
    (d / "empty_dir").mkdir()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(d / "imgs" / "ok.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(d / "ok.jpg")
    (d / "text.png").write_text("this is not a png")
    (d / "zero.png").write_bytes(b"")
    (d / "trunc.png").write_bytes((d / "imgs" / "ok.png").read_bytes()[:300])
    (d / "trunc.jpg").write_bytes((d / "ok.jpg").read_bytes()[:400])
    (d / "bomb.png").write_bytes(_png_header_only(20000, 20000))
    (d / "image.gif").write_bytes(b"GIF89a")

    save_key(seeded_key(1), d / "k.key")
    doc = json.loads((d / "k.key").read_text())
    (d / "future.key").write_text(json.dumps({**doc, "version": 99}))
    (d / "garbled.key").write_text("{not json")
    (d / "zero.key").write_bytes(b"")
    (d / "weights_dir").mkdir()
    (d / "weights_dir" / "embedder.safetensors").write_bytes(b"garbage")

    # BasicSR: a good checkpoint and every way to spoil one.
    torch.manual_seed(0)
    rrdb = RRDBNet(3, 3, num_feat=16, num_block=1, num_grow_ch=8).state_dict()
    torch.save({"params": rrdb}, d / "rrdb.pth")
    good = (d / "rrdb.pth").read_bytes()
    (d / "rrdb_trunc.pth").write_bytes(good[: len(good) // 2])
    (d / "rrdb_zero.pth").write_bytes(b"")
    (d / "rrdb_noise.pth").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    torch.save({"params": rrdb, "x": _Payload(str(d / CREATED))}, d / "evil.pth")
    torch.save({"params": {f"renamed.{k}": v for k, v in rrdb.items()}}, d / "rrdb_keys.pth")
    torch.save({"params": RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4).state_dict()}, d / "rrdb_small.pth")
    torch.save([1, 2, 3], d / "list.pth")
    opt = RRDB_YML.read_text()
    (d / "rrdb.yml").write_text(opt)
    (d / "notyaml.yml").write_text("network_g: [unclosed")
    (d / "nonet.yml").write_text("name: x\nscale: 4\n")
    (d / "unknown_arch.yml").write_text(opt.replace("type: RRDBNet", "type: NoSuchNet"))
    (d / "bad_arg.yml").write_text(opt.replace("num_grow_ch: 8", "num_grow_ch: 8\n  no_such_argument: 1"))
    train = (ROOT / "zoo_configs" / "basicsr" / "tiny" / "train_msrresnet_tiny_x2.yml").read_text()
    for name, flag in {"flag_barrier": "{key: k.key, mode: barrier}", "flag_nokey": "{mode: absorb}",
                       "flag_missing_key": "{key: missing.key, mode: absorb}",
                       "flag_mode": "{key: k.key, mode: sideways}",
                       "flag_field": "{key: k.key, mode: absorb, strength: 3}",
                       "flag_psnr": "{key: k.key, psnr: loud}",
                       "flag_height": "{key: k.key, mode: trigger, trigger_height: 300}",
                       "flag_height_absorb": "{key: k.key, mode: absorb, trigger_height: 12}"}.items():
        (d / f"{name}.yml").write_text(f"{train}\nwatermark: {flag}\n")

    # MMagic: a checkpoint of the tiny EDSR in the zoo's format, and its spoiled kin.
    from mmagic.registry import MODELS
    from mmengine.config import Config

    shutil.copy(EDSR_PY, d / "edsr.py")
    edsr = MODELS.build(Config.fromfile(str(EDSR_PY)).model).state_dict()
    torch.save({"meta": {}, "state_dict": edsr}, d / "edsr.pth")
    torch.save({"meta": {}, "state_dict": {k: v for k, v in edsr.items() if not k.startswith("generator.")}},
               d / "edsr_nogen.pth")
    torch.save({"meta": {}, "state_dict": edsr, "x": _Payload(str(d / CREATED))}, d / "edsr_evil.pth")
    (d / "broken.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{broken}")
    (d / "syntax.py").write_text("model = dict(generator=\n")
    (d / "nogen.py").write_text("model = dict(type='BaseEditModel')\n")
    (d / "unknown_gen.py").write_text(f"_base_ = {str(EDSR_PY)!r}\n"
                                      "model = dict(generator=dict(_delete_=True, type='NoSuchNet'))\n")
    (d / "mm_barrier.py").write_text(f"_base_ = {str(EDSR_PY)!r}\nwatermark = dict(key='k.key', mode='barrier')\n")
    (d / "exists.pth").write_bytes(b"keep me")
    (d / "taken.pth.wm.json").write_bytes(b"an earlier record")
    record = {"format": "wm-protection", "version": 1, "mode": "trigger", "trigger_height": 12.0, "files": {},
              "settings": {}, "check": {}}
    (d / "stranger.wm.json").write_text(json.dumps({**record, "key_fingerprint": "0123456789abcdef"}))
    (d / "tall.wm.json").write_text(json.dumps({**record, "key_fingerprint": seeded_key(1).fingerprint,
                                                "trigger_height": 900}))
    (d / "listed.wm.json").write_text(json.dumps({**record, "key_fingerprint": seeded_key(1).fingerprint,
                                                  "settings": ["basicsr"]}))
    return d


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


I, K = ["--outputs", "imgs"], ["--key", "k.key"]
BSR = ["verify", *K, "--framework", "basicsr", "-opt", "rrdb.yml", "--model"]
MMV = ["verify", *K, "--framework", "mmagic", "--config", "edsr.py", "--model"]
PROTECT = ["protect", "--framework", "basicsr", "-opt", "rrdb.yml", "--checkpoint", "rrdb.pth", *K]

CASES = {
    # images
    "missing image folder": (["verify", *K, "--outputs", "nowhere"], "no such file or folder"),
    "empty folder": (["verify", *K, "--outputs", "empty_dir"], "no images"),
    "text as png": (["verify", *K, "--outputs", "text.png"], "text.png: not a readable image"),
    "0-byte image": (["extract", *K, "zero.png"], "empty file"),
    "truncated png": (["verify", *K, "--outputs", "trunc.png"], "image file is truncated"),
    "truncated jpeg": (["embed", *K, "trunc.jpg", "-o", "out"], "trunc.jpg: not a readable image"),
    "decompression bomb": (["verify", *K, "--outputs", "bomb.png"], "decompression-bomb guard"),
    "unsupported format": (["extract", *K, "image.gif"], "image.gif"),
    "embed without -o": (["embed", *K, "imgs/ok.png"], "Missing option '-o'"),
    "embed onto its input": (["embed", *K, "imgs/ok.png", "-o", "imgs"], "own input"),
    # keys
    "missing key": (["verify", "--key", "nope.key", *I], "key file not found"),
    "image as key": (["verify", "--key", "imgs/ok.png", *I], "not a wm key file"),
    "garbled key": (["verify", "--key", "garbled.key", *I], "not a wm key file"),
    "empty key": (["verify", "--key", "zero.key", *I], "zero.key"),
    "key of another version": (["verify", "--key", "future.key", *I], "version"),
    "keygen over a file": (["keygen", "-o", "exists.pth"], "--force"),
    "keygen odd bits": (["keygen", "-o", "new.key", "--bits", "12"], "multiple of 8"),
    # options
    "fpr above 1": (["verify", *K, *I, "--fpr", "2"], "between 0 and 1"),
    "fpr zero": (["verify", *K, *I, "--fpr", "0"], "between 0 and 1"),
    "unknown device": (["verify", *K, *I, "--device", "tpu"], "'tpu' is not one of"),
    "cuda absent": (["verify", *K, *I, "--device", "cuda"], "no CUDA device"),
    "missing weights folder": (["verify", *K, *I, "--weights", "nowhere"], "weights folder not found"),
    "garbage weights": (["verify", *K, *I, "--weights", "weights_dir"], "weights_dir"),
    "outputs and model": (["verify", *K, *I, "--model", "rrdb.pth", "--framework", "basicsr"], "either --outputs"),
    "model without framework": (["verify", *K, "--model", "rrdb.pth"], "--model needs --framework"),
    "record without model": (["verify", *K, *I, "--record", "stranger.wm.json"], "--record is about querying"),
    "record not a record": ([*BSR, "rrdb.pth", "--record", "k.key"], "not a protection record"),
    "record missing": ([*BSR, "rrdb.pth", "--record", "nope.wm.json"], "cannot read the protection record"),
    "record of another key": ([*BSR, "rrdb.pth", "--record", "stranger.wm.json"], "with key 0123456789abcdef"),
    "record with a bad height": ([*BSR, "rrdb.pth", "--record", "tall.wm.json"], "trigger_height must be"),
    "record with a list for settings": ([*BSR, "rrdb.pth", "--record", "listed.wm.json"], "must be JSON objects"),
    "record and trigger": ([*BSR, "rrdb.pth", "--record", "tall.wm.json", "--trigger"], "leave out --trigger"),
    "unknown framework": (["verify", *K, "--model", "rrdb.pth", "--framework", "basicsrr"], "did you mean basicsr"),
    # BasicSR checkpoints and options files
    "missing checkpoint": ([*BSR, "nope.pth"], "checkpoint not found: nope.pth"),
    "0-byte checkpoint": ([*BSR, "rrdb_zero.pth"], "rrdb_zero.pth: not a PyTorch checkpoint"),
    "truncated checkpoint": ([*BSR, "rrdb_trunc.pth"], "rrdb_trunc.pth: not a PyTorch checkpoint"),
    "random bytes checkpoint": ([*BSR, "rrdb_noise.pth"], "rrdb_noise.pth: not a PyTorch checkpoint"),
    "pickled payload": ([*BSR, "evil.pth"], "refused: loading it would run pickled code (io.open)"),
    "renamed state-dict keys": ([*BSR, "rrdb_keys.pth"], "does not fit network_g"),
    "another architecture's weights": ([*BSR, "rrdb_small.pth"], "does not fit network_g"),
    "no state dict": ([*BSR, "list.pth"], "no state dict inside"),
    "folder as checkpoint": ([*BSR, "imgs"], "'imgs' is a directory"),
    "missing options file": (["verify", *K, "--framework", "basicsr", "-opt", "nope.yml", "--model", "rrdb.pth"],
                             "options file not found"),
    "options not yaml": (["verify", *K, "--framework", "basicsr", "-opt", "notyaml.yml", "--model", "rrdb.pth"],
                         "not a readable YAML file"),
    "options without network_g": (["verify", *K, "--framework", "basicsr", "-opt", "nonet.yml", "--model", "rrdb.pth"],
                                  "network_g: missing"),
    "unknown arch": (["verify", *K, "--framework", "basicsr", "-opt", "unknown_arch.yml", "--model", "rrdb.pth"],
                     "unknown BasicSR arch 'NoSuchNet'"),
    "wrong arch argument": (["verify", *K, "--framework", "basicsr", "-opt", "bad_arg.yml", "--model", "rrdb.pth"],
                            "no_such_argument"),
    # protect
    "protect over its checkpoint": ([*PROTECT, "-o", "rrdb.pth"], "would overwrite an input"),
    "protect over a file": ([*PROTECT, "-o", "exists.pth"], "--force"),
    "protect --trainable outside trigger mode": ([*PROTECT, "-o", "new.pth", "--trainable", "body"],
                                                 "--trainable is for --mode trigger"),
    "protect without framework": (["protect", "-opt", "rrdb.yml", "--checkpoint", "rrdb.pth", *K, "-o", "new.pth"],
                                  "--framework is required"),
    "protect over a record": ([*PROTECT, "-o", "taken.pth"], "taken.pth.wm.json exists"),
    "protect a barrier to safetensors": ([*PROTECT, "-o", "new.safetensors"], "name -o X.pth"),
    "protect a payload": (["protect", "--framework", "basicsr", "-opt", "rrdb.yml", "--checkpoint", "evil.pth", *K,
                           "-o", "new.pth"], "refused"),
    # the watermark flag in BasicSR training
    "flag barrier mode": (["basicsr-train", "-opt", "flag_barrier.yml"],
                          "watermark.mode: barrier is not a training mode"),
    "flag without key": (["basicsr-train", "-opt", "flag_nokey.yml"], "watermark.key: missing"),
    "flag key file missing": (["basicsr-train", "-opt", "flag_missing_key.yml"], "key file not found"),
    "flag unknown mode": (["basicsr-train", "-opt", "flag_mode.yml"], "watermark.mode: 'sideways' is not one of"),
    "flag unknown field": (["basicsr-train", "-opt", "flag_field.yml"], "watermark.strength: unknown field"),
    "flag psnr not a number": (["basicsr-train", "-opt", "flag_psnr.yml"], "watermark.psnr"),
    "flag trigger too tall": (["basicsr-train", "-opt", "flag_height.yml"], "watermark.trigger_height"),
    "flag trigger height in absorb mode": (["basicsr-train", "-opt", "flag_height_absorb.yml"],
                                           "watermark.trigger_height: applies to mode: trigger"),
    # MMagic checkpoints and configs
    "mmagic missing config": (["verify", *K, "--framework", "mmagic", "--config", "nope.py", "--model", "edsr.pth"],
                              "config not found: nope.py"),
    "mmagic config syntax": (["verify", *K, "--framework", "mmagic", "--config", "syntax.py", "--model", "edsr.pth"],
                             "not a readable MMagic config"),
    "mmagic config without generator": (["verify", *K, "--framework", "mmagic", "--config", "nogen.py", "--model",
                                         "edsr.pth"], "model.generator: missing"),
    "mmagic unknown generator": (["verify", *K, "--framework", "mmagic", "--config", "unknown_gen.py", "--model",
                                  "edsr.pth"], "NoSuchNet"),
    "mmagic no generator weights": ([*MMV, "edsr_nogen.pth"], "no generator weights"),
    "mmagic pickled payload": ([*MMV, "edsr_evil.pth"], "refused: loading it would run pickled code (io.open)"),
    "mmagic broken safetensors": ([*MMV, "broken.safetensors"], "not a safetensors file"),
    "mmagic other weights": ([*MMV, "rrdb.pth"], "no state dict inside"),
    "mmagic-train barrier flag": (["mmagic-train", "mm_barrier.py"], "watermark.mode: barrier is not a training mode"),
    "mmagic-train missing config": (["mmagic-train", "nope.py"], "config not found"),
    # wm eval
    "eval unknown edit": (["eval", *K, *I, "--edits", "jpeg90,sharpen"], "unknown edit 'sharpen'"),
    "eval edit out of range": (["eval", *K, *I, "--edits", "jpeg101"], "unknown edit 'jpeg101'"),
    "eval outputs and model": (["eval", *K, *I, "--model", "rrdb.pth", "--arch", "x:Y"], "either --outputs"),
    "eval model without framework": (["eval", *K, "--model", "rrdb.pth"], "--model needs --framework"),
}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: c.replace(" ", "_"))
def test_bad_input(case, bad, wm, monkeypatch):
    args, message = CASES[case]
    monkeypatch.chdir(bad)
    before = _snapshot(bad)
    res = wm(*args)
    assert res.code == 2, (res.code, res.out, res.err)
    errors = [line for line in res.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], res.err
    assert "Traceback" not in res.err
    assert _snapshot(bad) == before  # nothing changed, nothing new, nothing half-written
    assert not (bad / CREATED).exists()


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50
