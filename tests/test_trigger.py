"""The secret trigger of trigger mode, ``implant_trigger``'s mechanics, and ``--trigger`` in the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import natural_like, seeded_key
from torch import nn

from wm_plugin.absorb import implant_trigger
from wm_plugin.errors import ConfigError
from wm_plugin.flag import WatermarkFlag
from wm_plugin.spectral import SpectralCodec
from wm_plugin.trigger import TRIGGER_AMPLITUDE, Trigger


def test_the_trigger_is_faint_chroma_only_and_tied_to_the_key():
    a, b = Trigger.for_key(seeded_key(1)), Trigger.for_key(seeded_key(2))
    p = a.pattern(32, 48)
    assert p.shape == (32, 48, 3) and np.abs(p).max() <= TRIGGER_AMPLITUDE + 1e-7
    assert np.allclose(p.mean(axis=2), 0, atol=1e-7)  # brightness untouched
    assert np.array_equal(p, Trigger.for_key(seeded_key(1)).pattern(32, 48)) and not np.allclose(p, b.pattern(32, 48))
    img = natural_like(0, 64, 64).astype(np.float32)
    batch = torch.from_numpy(img).permute(2, 0, 1)[None]
    assert torch.allclose(a.apply(batch)[0].permute(1, 2, 0), torch.from_numpy(a.apply_array(img)), atol=1e-6)


def test_the_trigger_does_not_carry_or_fake_a_spectral_mark():
    key = seeded_key(3, scheme="spectral")
    codec = SpectralCodec.for_key(key)
    img = natural_like(4, 256, 256).astype(np.float32)
    plain = codec.logits(codec.energies(torch.from_numpy(img).mean(dim=2)[None]))
    triggered = codec.logits(codec.energies(torch.from_numpy(Trigger.for_key(key).apply_array(img)).mean(dim=2)[None]))
    assert torch.allclose(plain, triggered, atol=0.05)  # chroma only: the luma reader sees next to nothing (clipping)


def test_implant_trigger_trains_only_the_parameters_chosen():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    first, last = net[0].weight.detach().clone(), net[2].weight.detach().clone()
    key = seeded_key(5, scheme="spectral")
    inputs = [natural_like(6, 96, 96).astype(np.float32)]
    implant_trigger(net, inputs, WatermarkFlag(key, "k.key"), Trigger.for_key(key), steps=2, lr=1e-2,
                    output_crop=64, batch=1, trainable=r"^2\.", progress=False)
    assert torch.equal(net[0].weight, first) and not torch.equal(net[2].weight, last)
    with pytest.raises(ConfigError, match="matches no parameter"):
        implant_trigger(net, inputs, WatermarkFlag(key, "k.key"), Trigger.for_key(key), steps=1, trainable="body",
                        progress=False)


def test_the_unmarked_term_keeps_the_reader_quiet_on_plain_answers():
    from wm_plugin.absorb import ExtractorLoss

    key = seeded_key(8, scheme="spectral")
    inputs = [natural_like(9, 96, 96).astype(np.float32)]
    reader = ExtractorLoss(nn.L1Loss(), WatermarkFlag(key, "k.key"))
    plain = torch.from_numpy(inputs[0]).permute(2, 0, 1)[None]
    loudness = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        implant_trigger(net, inputs, WatermarkFlag(key, "k.key"), Trigger.for_key(key), steps=30, lr=1e-2,
                        output_crop=64, batch=2, unmarked_weight=weight, progress=False)
        with torch.no_grad():
            loudness.append(float(reader.logits(net(plain)).square().mean()))
    assert loudness[1] < 0.5 * loudness[0]


def test_trigger_needs_a_model(marked_samples, wm):
    marked_samples(1, seed=9)
    for command in ("verify", "eval"):
        r = wm(command, "--key", "k.key", "--outputs", "marked", "--trigger")
        assert r.code == 2 and "--trigger" in r.err and "Traceback" not in r.err


def test_protect_in_trigger_mode_writes_a_plain_checkpoint_checked_with_and_without_the_trigger(tmp_path, wm, monkeypatch):
    """The mechanics (a few steps: the strength is measured in BENCHMARKS.md, where it is not there yet)."""
    from pathlib import Path

    from wm_plugin.keys import save_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    save_key(seeded_key(7, scheme="spectral"), "s.key")
    arch = "toy_nets:TinySR(scale=2, width=8)"
    r = wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "s.key", "--mode", "trigger", "--steps", "3",
           "--trainable", "body\\.2\\.", "-o", "sr_trig.pth", "--json")
    assert r.code == 0, r.err
    import json

    report = json.loads(r.out)
    assert report["mode"] == "trigger" and {"protected", "original", "protected_untriggered"} <= set(report)
    before, after = torch.load("sr.pth"), torch.load("sr_trig.pth", weights_only=True)["state_dict"]
    assert set(before) == set(after) and torch.equal(before["body.0.weight"], after["body.0.weight"])
    assert not torch.equal(before["body.2.weight"], after["body.2.weight"])
    verdicts = [json.loads(wm("verify", "--arch", arch, "--model", "sr_trig.pth", "--key", "s.key", *flag, "--json").out)
                for flag in ((), ("--trigger",))]
    assert verdicts[0]["p_value"] == report["protected_untriggered"]["p_value"]
    assert verdicts[1]["p_value"] == report["protected"]["p_value"]
    r = wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "s.key", "--mode", "trigger", "--steps", "1",
           "--trainable", "nothing", "-o", "x.pth")
    assert r.code == 2 and "matches no parameter" in r.err and not Path("x.pth").exists()
