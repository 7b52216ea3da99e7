"""Bare PyTorch models (``--arch package.module:Class(...)``): protect and verify without a zoo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import seeded_key

FIXTURES = Path(__file__).parent / "fixtures"
ARCH = "toy_nets:TinySR(scale=2, width=8)"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    from toy_nets import TinySR

    from wm_plugin.keys import save_key

    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    torch.save({"state_dict": TinySR(scale=2, width=8).state_dict()}, "sr.pth")
    save_key(seeded_key(5), "k.key")
    return tmp_path


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))


def test_protect_and_verify_a_bare_pytorch_model(folder, wm):
    r = wm("protect", "--arch", ARCH, "--checkpoint", "sr.pth", "--key", "k.key", "-o", "sr_wm.pth", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["written"] == ["sr_wm.pth"] and report["ok"] and report["psnr_vs_original"] >= 42
    doc = torch.load("sr_wm.pth", weights_only=True)
    assert doc["arch"] == ARCH and "model.body.0.weight" in doc["state_dict"]
    assert wm("verify", "--key", "k.key", "--arch", ARCH, "--model", "sr_wm.pth").code == 0
    assert wm("verify", "--key", "k.key", "--arch", ARCH, "--model", "sr.pth").code == 1
    # the same through the generic options
    assert wm("verify", "--key", "k.key", "--framework", "torch", "--config", ARCH, "--model", "sr_wm.pth").code == 0


@pytest.mark.parametrize("spec, message", [
    ("toy_nets", "expected package.module:Class"),
    ("toy_nets:TinySR(2)", "expected package.module:Class"),
    ("toy_nets:TinySR(width=len('x'))", "literal values"),
    ("no_such_module:Net", "cannot import no_such_module"),
    ("toy_nets:NotAModule", "has no nn.Module class NotAModule"),
    ("toy_nets:TinySR(depth=3)", "unexpected keyword argument 'depth'"),
    ("toy_nets:TinySR(width=4)", "does not fit"),
])
def test_bad_arch_specs(spec, message, folder, wm):
    r = wm("verify", "--key", "k.key", "--arch", spec, "--model", "sr.pth")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err


def test_arch_excludes_framework(folder, wm):
    r = wm("verify", "--key", "k.key", "--arch", ARCH, "--framework", "basicsr", "--model", "sr.pth")
    assert r.code == 2 and "leave out --framework" in r.err


def test_false_claims_another_key_does_not_detect_a_protected_model(folder, wm):
    """The owner's protected model, tested with someone else's key (and a fresh one): not detected."""
    from wm_plugin.keys import save_key

    assert wm("protect", "--arch", ARCH, "--checkpoint", "sr.pth", "--key", "k.key", "-o", "sr_wm.pth").code == 0
    for seed in (6, 7):
        save_key(seeded_key(seed), f"other{seed}.key")
        r = wm("verify", "--key", f"other{seed}.key", "--arch", ARCH, "--model", "sr_wm.pth", "--json")
        assert r.code == 1 and json.loads(r.out)["p_value"] > 1e-3


def test_a_barrier_that_cannot_be_rebuilt_is_not_saved(tmp_path):
    """A barrier made without ``spec`` has nothing to record for its embedder: saving it fails and writes nothing,
    while one made for a key records how to rebuild its filter."""
    from wm_plugin.barrier import WatermarkBarrier, load_embedder
    from wm_plugin.errors import WeightsError
    from wm_torch.adapter import TorchAdapter

    key = seeded_key(5)
    anonymous = WatermarkBarrier(torch.nn.Identity(), load_embedder(), key.carried_bits())
    with pytest.raises(WeightsError, match="does not know how its embedder is built"):
        TorchAdapter().save_barrier(anonymous, str(tmp_path / "b.pth"))
    assert not list(tmp_path.iterdir())
    spectral = WatermarkBarrier.for_key(torch.nn.Identity(), seeded_key(6, scheme="spectral"))
    assert spectral.saved_spec() == {"embedder": dict(spectral.spec), "psnr": 0.0}


def test_the_scale_of_a_bare_model_is_read_from_its_answer():
    """Probe inputs are the bundled photos ÷ the model's scale, as for the zoos' models: measured on a 32 px input."""
    from wm_torch.adapter import TorchAdapter

    scales = [TorchAdapter().model_scale(f"toy_nets:TinySR(scale={s}, width=4)") for s in (1, 2, 4)]
    assert scales == [1, 2, 4]
    assert TorchAdapter().model_scale("toy_nets:NotAModule") == 1  # the load reports what is wrong with the spec
