"""Trigger mode: the trigger and its response code, ``implant_trigger``, and ``--trigger`` in the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from conftest import natural_like, seeded_key
from wm_plugin.api import codec_for
from wm_plugin.errors import ConfigError
from wm_plugin.implant import implant_trigger, response_under_aimed_moves
from wm_plugin.probe import model_outputs, probe_inputs, verify_outputs, verify_triggered
from wm_plugin.trigger import TRIGGER_AMPLITUDE, Trigger, TriggerObjective, default_trigger_height, probe_envelope


class SmallRestorer(nn.Module):
    """A small residual restoration net (receptive field 15 px): room enough for the 8×8 response kernel."""

    def __init__(self, width: int = 16, depth: int = 6):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, x):
        return x + 0.1 * self.body(x)


def test_the_trigger_is_faint_chroma_and_tied_to_the_key():
    a, b = Trigger.for_key(seeded_key(1)), Trigger.for_key(seeded_key(2))
    n = probe_envelope(a, seeded_key(1).seed, 0, 32, 48)
    p = a.pattern(n)
    assert n.shape == (1, 2, 32, 48) and p.shape == (1, 3, 32, 48) and p.abs().max() <= 2.7 * TRIGGER_AMPLITUDE + 1e-7
    assert torch.allclose(p.mean(dim=1), torch.zeros(1), atol=1e-7)  # brightness untouched
    assert torch.equal(p, Trigger.for_key(seeded_key(1)).pattern(n)) and not torch.allclose(p, b.pattern(n))
    assert not torch.equal(n, probe_envelope(a, seeded_key(1).seed, 1, 32, 48))  # a fresh envelope per probe


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_the_owners_response_reads_back_as_the_keys_bits(scale):
    key = seeded_key(3)
    trigger = Trigger.for_key(key)
    n = probe_envelope(trigger, key.seed, 0, 90, 120)
    response = torch.round(trigger.response(n, scale) * 255 + 0.3) / 255  # 8-bit, as saved answers are
    assert response.shape == (1, 3, 90 * scale, 120 * scale)
    assert len(trigger.carried) == 128 and np.array_equal(trigger.carried[:64], key.carried_bits())
    assert np.array_equal(trigger.read(response, n).numpy() > 0, trigger.carried > 0)
    other = Trigger.for_key(seeded_key(4)).read(response, n).numpy() > 0
    assert 0.3 < np.mean(other == trigger.carried) < 0.7  # another key's reader finds nothing in it


def test_each_carrier_is_read_apart_from_the_other():
    """A response to the first carrier's envelope alone reads as the first 64 bits and leaves the rest near 0."""
    key = seeded_key(3)
    trigger = Trigger.for_key(key)
    n = probe_envelope(trigger, key.seed, 0, 96, 96)
    logits = trigger.read(trigger.response(n * torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)), n)
    assert np.array_equal(logits[:64].numpy() > 0, key.carried_bits() > 0) and logits[:64].abs().min() > 2.9
    assert logits[64:].abs().max() < 0.01


def test_models_that_were_not_protected_are_not_accused():
    key = seeded_key(5)
    inputs = probe_inputs()
    torch.manual_seed(0)
    for model in (lambda x: x, SmallRestorer().eval(), lambda x: torch.nn.functional.avg_pool2d(x, 3, 1, 1)):
        v, answers = verify_triggered(model, inputs, key, progress=False)
        assert not v.detected and v.p_value > 1e-3 and len(answers) == len(inputs)
        assert "signed-rank" in v.method


def test_the_carrier_and_the_weight_start_loud_and_settle_at_their_own_height():
    trigger = Trigger.for_key(seeded_key(5))
    objective = TriggerObjective(trigger, weight=0.2, warmup_height=4.0, warmup_weight=1.0, warmup_steps=100)
    x, answer = torch.full((2, 3, 16, 16), 0.5), torch.zeros(2, 3, 16, 16)
    heights, losses = [], []
    for step in (0, 50, 100, 500):
        triggered, n = objective.triggered(x, step)
        heights.append(((triggered - x) / trigger.pattern(n)).mean().item() * trigger.amplitude)
        losses.append(objective.loss(answer, answer, n).item() / F.l1_loss(answer, trigger.response(n)).item())
    assert heights == pytest.approx([4, 2, 1, 1] * np.array(TRIGGER_AMPLITUDE))
    assert losses == pytest.approx([1.0, 0.6, 0.2, 0.2])



def test_the_training_flag_sets_the_triggers_height(tmp_path):
    """``trigger_height`` (/255) of the ``watermark:`` section is the height the training term plants."""
    from wm_plugin.flag import parse_flag
    from wm_plugin.keys import save_key

    save_key(seeded_key(5), tmp_path / "k.key")
    heights = [TriggerObjective.for_flag(parse_flag({"key": "k.key", "mode": "trigger", **extra}, base_dir=tmp_path),
                                         1000).trigger.amplitude
               for extra in ({}, {"trigger_height": 12}, {"task": "denoise"}, {"task": "denoise", "trigger_height": 6})]
    # a denoiser's flag takes wm protect --task denoise's default height; a height given wins
    assert heights == pytest.approx([TRIGGER_AMPLITUDE, 12 / 255, default_trigger_height("denoise") / 255, 6 / 255])
    assert heights[2] > heights[0]
    tall = parse_flag({"key": "k.key", "mode": "trigger", "trigger_height": 12}, base_dir=tmp_path)
    assert "--trigger --trigger-height 12" in tall.summary()  # the training log says how to verify the model
    for extra, message in (({"mode": "trigger", "trigger_height": 0}, "above 0"),
                           ({"mode": "absorb", "trigger_height": 12}, "applies to mode: trigger"),
                           ({"mode": "absorb", "task": "denoise"}, "applies to mode: trigger"),
                           ({"mode": "trigger", "task": "deblur"}, "'deblur' is not one of sr, denoise, derain")):
        with pytest.raises(ConfigError, match=message):
            parse_flag({"key": "k.key", **extra}, base_dir=tmp_path)

def test_implant_trigger_trains_only_the_parameters_chosen():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    first, last = net[0].weight.detach().clone(), net[2].weight.detach().clone()
    trigger, inputs = Trigger.for_key(seeded_key(5)), [natural_like(6, 96, 96).astype(np.float32)]
    implant_trigger(net, inputs, trigger, steps=2, lr=1e-2, output_crop=64, batch=1, trainable=r"^2\.", progress=False)
    assert torch.equal(net[0].weight, first) and not torch.equal(net[2].weight, last)
    with pytest.raises(ConfigError, match="matches no parameter"):
        implant_trigger(net, inputs, trigger, steps=1, trainable="body", progress=False)


def test_implant_trigger_with_a_perturbation_flattens_the_response_against_an_aimed_move():
    """``perturbation`` (Gan et al.'s mini-max): the response's loss rises far less when the weights move towards
    forgetting it than after the plain implant, and the parameters not chosen stay exactly as they were."""
    key, rng = seeded_key(11), np.random.default_rng(0)
    train = [natural_like(int(s), 128, 128).astype(np.float32) for s in rng.integers(0, 1000, 8)]
    held = [natural_like(int(s), 64, 64).astype(np.float32) for s in rng.integers(1000, 2000, 4)]
    x = torch.from_numpy(np.stack(held)).permute(0, 3, 1, 2)
    rises = []
    for perturbation in (0.0, 0.05):
        torch.manual_seed(0)
        net = SmallRestorer()
        implant_trigger(net, train, Trigger.for_key(key), steps=100, output_crop=64, perturbation=perturbation,
                        progress=False)
        before, worn = response_under_aimed_moves(net, Trigger.for_key(key), x, [0, 0.05])
        rises.append(worn["response_loss"] - before["response_loss"])
    assert rises[1] < rises[0] / 3, rises  # measured: 1.2e-6 against 0.0011

    net = SmallRestorer()
    first = net.body[0].weight.detach().clone()
    implant_trigger(net, train, Trigger.for_key(key), steps=2, output_crop=64, trainable=r"^body\.[2-9]\.",
                    perturbation=0.05, progress=False)
    assert torch.equal(net.body[0].weight, first)


def test_implant_trigger_keeps_the_teachers_answers_when_it_starts_from_other_weights():
    """``teacher``: a model that starts off the original (here: its weights jittered, as an implant leaves them) is
    trained back towards the original's plain answers, where its own frozen copy would keep it where it is; the
    teacher itself is not trained."""
    key, rng = seeded_key(11), np.random.default_rng(0)
    train = [natural_like(int(s), 128, 128).astype(np.float32) for s in rng.integers(0, 1000, 4)]
    x = torch.from_numpy(np.stack(train[:2])[:, :64, :64]).permute(0, 3, 1, 2)
    torch.manual_seed(0)
    original = SmallRestorer().eval()
    kept = {name: p.detach().clone() for name, p in original.named_parameters()}
    drifted = SmallRestorer()
    with torch.no_grad():
        for p, q in zip(drifted.parameters(), original.parameters()):
            p.copy_(q + 0.3 * q.std() * torch.randn_like(q))
    gaps = []
    for teacher in (None, original):
        net = SmallRestorer()
        net.load_state_dict(drifted.state_dict())
        implant_trigger(net, train, Trigger.for_key(key), steps=40, output_crop=64, teacher=teacher, progress=False)
        with torch.no_grad():
            gaps.append((net(x) - original(x)).abs().mean().item())
    assert gaps[1] < gaps[0] / 2, gaps  # measured: 9.0e-5 against 1.3e-3 (the drifted start: 1.3e-3)
    assert all(torch.equal(p, kept[name]) for name, p in original.named_parameters())


def test_a_small_model_protected_in_trigger_mode_answers_the_trigger_and_nothing_else():
    """Issue 6's CPU check: a few hundred steps, then the triggered probes detect it at 1e-6; its plain answers,
    the original model's response, and its response to another key's trigger do not."""
    key, stranger = seeded_key(11), seeded_key(12)
    torch.manual_seed(0)
    original = SmallRestorer().eval()
    protected = SmallRestorer()
    protected.load_state_dict(original.state_dict())
    rng = np.random.default_rng(0)
    train = [natural_like(int(s), 128, 128).astype(np.float32) for s in rng.integers(0, 1000, 8)]
    # 500 steps: p ~1e-12 at 450 (5 orders past the target), not detected at 300 (measured 2026-12-03)
    implant_trigger(protected, train, Trigger.for_key(key), steps=500, output_crop=64, progress=False)
    probes = probe_inputs()  # the bundled photos: never seen in training

    assert verify_triggered(protected, probes, key, progress=False)[0].detected
    assert not verify_triggered(original, probes, key, progress=False)[0].detected
    assert not verify_triggered(protected, probes, stranger, progress=False)[0].detected
    plain = model_outputs(protected, probes, progress=False)
    for scheme in ("deep", "spectral"):  # its plain answers carry no mark for the ordinary readers either
        k = seeded_key(11, scheme=scheme)
        assert not verify_outputs([n for n, _ in probes], plain, k, codec=codec_for(k)).detected
    before = model_outputs(original, probes, progress=False)
    worst = min(10 * np.log10(1 / np.mean((a - b) ** 2)) for a, b in zip(before, plain))
    assert worst > 40  # plain answers barely moved


def test_trigger_needs_a_model_and_attacks(marked_samples, wm):
    marked_samples(1, seed=9)
    for command in ("verify", "eval"):
        r = wm(command, "--key", "k.key", "--outputs", "marked", "--trigger")
        assert r.code == 2 and "--trigger" in r.err and "Traceback" not in r.err
    r = wm("eval", "--key", "k.key", "--arch", "toy_nets:TinySR()", "--model", "m.pth", "--trigger",
           "--edits", "jpeg90")
    assert r.code == 2 and "--trigger" in r.err and "Traceback" not in r.err


def test_protect_in_trigger_mode_writes_a_plain_checkpoint_checked_both_ways(tmp_path, wm, monkeypatch):
    """The mechanics, with any key (a few steps: the strength is the test above and BENCHMARKS.md)."""
    from wm_plugin.keys import save_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    save_key(seeded_key(7), "d.key")
    arch = "toy_nets:TinySR(scale=2, width=8)"
    r = wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "d.key", "--mode", "trigger", "--steps", "3",
           "--trainable", "body\\.2\\.", "-o", "sr_trig.pth", "--json")
    report = json.loads(r.out)
    assert r.code == (0 if report["ok"] else 1), r.err  # three steps: the mechanics; the exit code says which
    assert report["mode"] == "trigger" and {"protected", "original", "protected_untriggered"} <= set(report)
    before, after = torch.load("sr.pth"), torch.load("sr_trig.pth", weights_only=True)["state_dict"]
    assert set(before) == set(after) and torch.equal(before["body.0.weight"], after["body.0.weight"])
    assert not torch.equal(before["body.2.weight"], after["body.2.weight"])
    verdicts = [json.loads(wm("verify", "--arch", arch, "--model", "sr_trig.pth", "--key", "d.key", *flag,
                              "--json").out)
                for flag in ((), ("--trigger",))]
    assert verdicts[0]["p_value"] == report["protected_untriggered"]["p_value"]
    assert verdicts[1]["p_value"] == report["protected"]["p_value"]  # the probes' envelopes come from the key
    assert verdicts[0]["test"] == verdicts[1]["test"] == "signed-rank"
    r = wm("verify", "--arch", arch, "--model", "sr_trig.pth", "--key", "d.key", "--trigger")
    assert "by the signed-rank test" in r.out, r.out
    r = wm("eval", "--arch", arch, "--model", "sr_trig.pth", "--key", "d.key", "--trigger",
           "--attacks", "none", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["model_attacks"][0]["p_value"] == report["protected"]["p_value"]
    r = wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "d.key", "--mode", "trigger", "--steps", "1",
           "--trainable", "nothing", "-o", "x.pth")
    assert r.code == 2 and "matches no parameter" in r.err and not Path("x.pth").exists()


def test_protect_resumes_a_trigger_implant_from_its_training_state(tmp_path, wm, monkeypatch):
    """``--training-state``: the implant is saved as it goes; run again, a finished implant is not redone (the same
    weights, the state file untouched); the option is refused where it has no use or would overwrite an input.
    ``--minimax`` reaches the implant and the record."""
    from wm_plugin.keys import save_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    save_key(seeded_key(7), "d.key")
    args = ("protect", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--checkpoint", "sr.pth", "--key", "d.key",
            "--mode", "trigger", "--steps", "3", "--json")
    first = wm(*args, "--training-state", "st/implant.pt", "-o", "a.pth")
    assert first.code in (0, 1), first.err
    saved = Path("st/implant.pt").stat().st_mtime_ns
    assert torch.load("st/implant.pt", weights_only=True)["step"] == 3
    again = wm(*args, "--training-state", "st/implant.pt", "-o", "b.pth")
    assert again.code == first.code and Path("st/implant.pt").stat().st_mtime_ns == saved
    a, b = (torch.load(f, weights_only=True)["state_dict"] for f in ("a.pth", "b.pth"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # --minimax reaches the implant (other weights from the same start and seed) and the record; its polish is
    # saved beside the implant's training, and no output may take that file
    minimax = wm(*args, "--minimax", "0.005", "--training-state", "st/m.pt", "-o", "m.pth")
    assert minimax.code in (0, 1), minimax.err
    assert torch.load("st/m.pt.polish", weights_only=True)["step"] == 3
    clash = wm(*args, "--minimax", "0.005", "--training-state", "st/n.pt", "-o", "st/n.pt.polish")
    assert clash.code == 2 and "st/n.pt.polish would overwrite an input" in clash.err, clash.err
    m = torch.load("m.pth", weights_only=True)["state_dict"]
    assert not all(torch.equal(a[k], m[k]) for k in a)
    assert json.loads(Path("m.pth.wm.json").read_text())["settings"]["minimax"] == 0.005
    before = Path("sr.pth").read_bytes()
    for extra, message in ((("--training-state", "sr.pth"), "would overwrite an input"),
                           (("--training-state", "sr.pth/st.pt"), "--training-state: cannot create"),
                           (("--mode", "barrier", "--training-state", "x.pt"), "is for --mode trigger"),
                           (("--mode", "absorb", "--minimax", "0.005"), "--minimax is for --mode trigger"),
                           (("--minimax", "0.5"), "--minimax")):
        r = wm(*args, *extra, "-o", "c.pth")
        assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err
    assert Path("sr.pth").read_bytes() == before and not Path("c.pth").exists()


def test_protect_fine_tunes_a_x1_model_on_the_inputs_of_its_task(tmp_path, wm, monkeypatch):
    """``--task denoise``: the procedural images absorb and trigger mode train on carry the thief's σ = 25 noise
    (seeded), not clean ones; ``--trigger-height`` sets the trigger's height for protect and verify alike; a task the
    model cannot serve, or an option given where it has no use, is refused."""
    from wm_plugin.attacks.tasks import NOISE_SIGMA
    from wm_plugin.keys import save_key
    from wm_plugin.protect import absorb_inputs

    clean, noisy = absorb_inputs(1, n=3), absorb_inputs(1, n=3, task="denoise")
    assert [x.shape for x in noisy] == [x.shape for x in clean]
    assert 0.9 * NOISE_SIGMA < np.std(noisy[0] - clean[0]) < 1.1 * NOISE_SIGMA  # a little under σ: clipped to [0, 1]
    assert np.array_equal(noisy[2], absorb_inputs(1, n=3, task="denoise")[2])
    assert all(np.array_equal(a, b) for a, b in zip(absorb_inputs(2, n=3, task="sr"), absorb_inputs(2, n=3)))
    with pytest.raises(ValueError, match="does not fit"):
        absorb_inputs(2, task="denoise")

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    from toy_nets import TinySR

    import wm_plugin.protect

    torch.save(TinySR(scale=1).state_dict(), "dn.pth")
    save_key(seeded_key(7), "d.key")
    arch = "toy_nets:TinySR(scale=1, width=8)"
    args = ("protect", "--arch", arch, "--checkpoint", "dn.pth", "--key", "d.key")
    seen = []  # what the real protect_trigger is given
    real = wm_plugin.protect.protect_trigger
    monkeypatch.setattr(wm_plugin.protect, "protect_trigger", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    r = wm(*args, "--mode", "trigger", "--task", "denoise", "--steps", "2", "-o", "dn_trig.pth", "--json")
    assert r.code in (0, 1) and json.loads(r.out)["mode"] == "trigger", r.err
    assert all(np.array_equal(a, b) for a, b in zip(seen[0]["inputs"], absorb_inputs(1, task="denoise")))
    assert seen[0]["amplitude"] == pytest.approx(12 / 255)  # a denoiser's default: 4/255 drowns in the noise
    given = wm(*args, "--mode", "trigger", "--task", "denoise", "--trigger-height", "6", "--steps", "1",
               "-o", "dn6.pth")
    assert seen[1]["amplitude"] == pytest.approx(6 / 255), given.err  # a height given wins
    assert given.code == 1 and "a taller --trigger-height than 6 (a denoiser: --task denoise, 12)" in given.err
    Path("noisy").mkdir()  # a denoiser's own inputs: --task sets the height and leaves them as they are
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8)).save("noisy/a.png")
    wm(*args, "--mode", "trigger", "--task", "denoise", "--data", "noisy", "--steps", "1", "-o", "dn_data.pth")
    assert seen[2]["amplitude"] == pytest.approx(12 / 255)
    assert [x.shape for x in seen[2]["inputs"]] == [(40, 48, 3)]
    assert np.array_equal(seen[2]["inputs"][0], np.asarray(Image.open("noisy/a.png")))  # 8-bit: held as uint8
    checked = json.loads(r.out)["protected"]["p_value"]
    read = {height: json.loads(wm("verify", "--arch", arch, "--model", "dn_trig.pth", "--key", "d.key", "--trigger",
                                  *height, "--json").out)["p_value"] for height in ((), ("--trigger-height", "12"))}
    assert read[("--trigger-height", "12")] == checked != read[()]  # verify probes with the height it is given
    r = wm("verify", "--arch", arch, "--model", "dn_trig.pth", "--key", "d.key", "--trigger")
    assert r.code == 1 and "probed with the default 4/255 trigger" in r.err, r.err  # the hint at the likely cause
    record = json.loads(Path("dn_trig.pth.wm.json").read_text())  # what protect did, for the owner to keep
    assert (record["mode"], record["trigger_height"]) == ("trigger", 12)
    assert record["key_fingerprint"] == seeded_key(7).fingerprint
    assert record["files"]["original"]["sha256"] == hashlib.sha256(Path("dn.pth").read_bytes()).hexdigest()
    assert record["files"]["protected"] == [{"path": "dn_trig.pth",
                                             "sha256": hashlib.sha256(Path("dn_trig.pth").read_bytes()).hexdigest()}]
    assert record["settings"]["task"] == "denoise" and record["check"]["protected"]["p_value"] == checked
    r = wm("verify", "--arch", arch, "--model", "dn_trig.pth", "--key", "d.key", "--record", "dn_trig.pth.wm.json",
           "--report", "evidence", "--json")
    assert (json.loads(r.out)["p_value"], json.loads(r.out)["trigger_height"]) == (checked, 12)  # queried as protected
    html = Path("evidence/report.html").read_text()
    assert "trigger (12/255)" in html  # the evidence says how it probed
    assert f"over all 128 bits, as `wm verify --json` gives it: {json.loads(r.out)['nc']:.3f}" in html
    r = wm("eval", "--model", "dn_trig.pth", "--key", "d.key", "--record", "dn_trig.pth.wm.json",
           "--attacks", "none", "--json")  # the record also says how to build the model: --arch
    assert json.loads(r.out)["model_attacks"][0]["p_value"] == checked, r.err
    for extra, message in ((("--mode", "trigger", "--task", "sr"), "does not fit a ×1 model"),
                           (("--mode", "barrier", "--task", "denoise"), "--task is for --mode absorb or trigger"),
                           (("--mode", "absorb", "--trigger-height", "12"), "--trigger-height is for --mode trigger")):
        r = wm(*args, *extra, "--steps", "1", "-o", "x.pth")
        assert r.code == 2 and message in r.err and "Traceback" not in r.err and not Path("x.pth").exists(), r.err
    for command in ("verify", "eval"):
        r = wm(command, "--arch", arch, "--model", "dn_trig.pth", "--key", "d.key", "--trigger-height", "12")
        assert r.code == 2 and "--trigger-height is for --trigger" in r.err, r.err
