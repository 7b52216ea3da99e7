"""The attacks on a stolen model's weights: pruning, weight noise, int8, fine-tuning, LoRA; and
``wm eval --attacks``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from wm_plugin.attacks.finetune import LoRAConv2d, add_lora, finetune, merge_lora
from wm_plugin.attacks.models import AttackSetting, apply_model_attack, check_model_attack, surrogate_loss
from wm_plugin.attacks.tasks import NOISE_SIGMA, degrade
from wm_plugin.attacks.weights import prune, quantize_int8, weight_noise

FIXTURES = Path(__file__).parent / "fixtures"


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1))


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_prune_zeroes_the_smallest_share_and_leaves_the_model_given():
    net = small_net()
    before = weights(net)
    pruned = weights(prune(net, 0.3))
    flat = torch.cat([w.flatten() for w in pruned])
    assert (flat == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    threshold = torch.cat([w.flatten() for w in before]).abs().kthvalue(int(0.3 * flat.numel())).values
    assert all(torch.all((p == 0) | (b.abs() >= threshold)) for p, b in zip(pruned, before))
    assert all(torch.equal(a, b) for a, b in zip(before, weights(net)))


def test_int8_keeps_at_most_255_levels_per_output_channel_within_half_a_step():
    net = small_net()
    quantized = weights(quantize_int8(net))
    for q, w in zip(quantized, weights(net)):
        for qc, wc in zip(q, w):
            step = wc.abs().max() / 127
            assert len(torch.unique(qc)) <= 255
            assert torch.allclose(qc, wc, atol=float(step) / 2 + 1e-7)
            assert torch.allclose(qc / step, (qc / step).round(), atol=1e-3)
    assert not all(torch.equal(q, w) for q, w in zip(quantized, weights(net)))


def test_weight_noise_is_relative_and_seeded():
    net = small_net()
    a, b = weights(weight_noise(net, 0.05, seed=3)), weights(weight_noise(net, 0.05, seed=3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    for noisy, w in zip(a, weights(net)):
        assert (noisy - w).std().item() == pytest.approx(0.05 * w.std().item(), rel=0.3)


def test_lora_starts_as_the_model_and_trains_only_the_adapters():
    net = small_net()
    x = torch.rand(1, 3, 16, 16)
    expected = net(x)
    lora = add_lora(small_net(), rank=2)
    assert isinstance(lora[0], LoRAConv2d) and torch.allclose(lora(x), expected)
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all(".down." in n or ".up." in n for n in trainable)
    tuned = finetune(net, [np.random.default_rng(0).random((48, 48, 3), np.float32)], task="denoise", steps=5,
                     lr=1e-2, lora_rank=2, crop=32, batch=2, progress=False)
    assert torch.equal(tuned[0].base.weight, net[0].weight) and not torch.allclose(tuned(x), expected)


def test_lora_on_chosen_layers_merges_into_a_model_of_the_original_architecture():
    x = torch.rand(1, 3, 16, 16)
    lora = add_lora(small_net(), rank=2, layers="2")
    assert isinstance(lora[0], nn.Conv2d) and isinstance(lora[2], LoRAConv2d)
    torch.nn.init.normal_(lora[2].up.weight)  # a trained adapter
    expected = lora(x)
    merged = merge_lora(lora)
    assert isinstance(merged[2], nn.Conv2d) and merged.state_dict().keys() == small_net().state_dict().keys()
    assert torch.allclose(merged(x), expected, atol=1e-5) and not torch.allclose(merged(x), small_net()(x))


def test_finetune_learns_the_task_and_leaves_the_model_given():
    """Fine-tuning on clean (noisy, clean) pairs makes a net that begins as a poor denoiser a better one."""
    rng = np.random.default_rng(0)
    clean = [np.clip(rng.random((1, 1, 3)) + 0.1 * rng.standard_normal((64, 64, 3)), 0, 1).astype(np.float32)
             for _ in range(4)]
    net = small_net()
    target = torch.from_numpy(clean[0]).permute(2, 0, 1)[None]
    noisy = degrade(target, "denoise", generator=torch.Generator().manual_seed(5))

    def error(model):
        with torch.no_grad():
            return (model(noisy) - target).abs().mean().item()

    net.requires_grad_(False)  # frozen as shipped: the thief trains it all the same
    before = weights(net)
    tuned = finetune(net, clean, task="denoise", steps=60, lr=3e-3, crop=32, batch=4, progress=False)
    assert error(tuned) < 0.5 * error(net)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(net)))


def test_degradations_fit_their_task():
    g = torch.Generator().manual_seed(0)
    clean = torch.full((2, 3, 64, 64), 0.5)
    assert degrade(clean, "sr", scale=4).shape == (2, 3, 16, 16)
    assert (degrade(clean, "denoise", generator=g) - clean).std().item() == pytest.approx(NOISE_SIGMA, rel=0.05)
    rain = degrade(clean, "derain", generator=g) - clean
    assert rain.min() >= 0 and 0.002 < (rain > 0.05).float().mean() < 0.3  # bright streaks, on a small share
    with pytest.raises(ValueError, match="does not fit"):
        degrade(clean, "sr", scale=1)
    with pytest.raises(ValueError, match="unknown task"):
        degrade(clean, "deblur")


def test_attack_names():
    for name in ("none", "int8", "prune30", "prune12.5%", "weightnoise1%", "finetune1k", "lora20k", "finetune300",
                 "chromanotch", "chromablur", "surrogate-unet-l1-2k", "surrogate-srvgg-adv-500",
                 "surrogate-resnet9-perceptual-1k"):
        check_model_attack(name)
    for name in ("prune", "lora1m", "finetune", "quantize", "surrogate-vgg-l1-1k", "surrogate-unet-l1"):
        with pytest.raises(KeyError, match="known forms"):
            check_model_attack(name)
    assert surrogate_loss("surrogate-resnet9-perceptual-1k") == "perceptual" and surrogate_loss("finetune1k") is None
    net = small_net()
    assert apply_model_attack("none", net, AttackSetting()) is net


def test_input_filters_touch_only_chroma_and_the_notch_only_its_highest_frequency():
    """``chromanotch`` removes a chroma checkerboard and keeps smooth chroma; ``chromablur`` dims all fine chroma;
    luminance and the model's weights pass untouched."""
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = torch.stack([0.3 + 0.01 * x, 0.5 + 0.005 * y, 0.4 + 0.002 * (x + y)]).unsqueeze(0)  # ramps: no curvature
    checker = (1 - 2 * ((x + y) % 2)) * torch.tensor([1.0, -0.5, -0.5]).view(3, 1, 1) * 0.02
    fine = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def chroma(t):
        return t - t.mean(1, keepdim=True)

    for name in ("chromanotch", "chromablur"):
        filtered = apply_model_attack(name, nn.Identity(), AttackSetting())  # the model answers what it is given
        out = filtered(smooth + checker)
        assert torch.allclose(out.mean(1), (smooth + checker).mean(1), atol=1e-6)
        assert torch.allclose(out[..., 1:-1, 1:-1], smooth[..., 1:-1, 1:-1], atol=1e-5)  # the checkerboard is gone
        net = small_net()
        assert all(torch.equal(a, b)
                   for a, b in zip(weights(apply_model_attack(name, net, AttackSetting())), weights(net)))
    blurred = apply_model_attack("chromablur", nn.Identity(), AttackSetting())(fine)
    notched = apply_model_attack("chromanotch", nn.Identity(), AttackSetting())(fine)
    assert chroma(blurred).std() < 0.6 * chroma(fine).std() < chroma(notched).std()


@pytest.mark.parametrize("scheme", ["deep", "spectral"])
def test_eval_attacks_a_protected_model(marked_samples, wm, monkeypatch, scheme):
    """``wm eval --attacks``: a barrier-protected tiny SR model stays detected after light attacks (fine-tuning
    trains through the barrier, whichever the scheme); its original not."""
    from conftest import seeded_key
    from wm_plugin.keys import save_key

    marked_samples(1, seed=9)  # the working directory
    save_key(seeded_key(9, scheme=scheme), "k.key", force=True)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    arch = "toy_nets:TinySR(scale=2, width=8)"
    assert wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "k.key", "-o", "sr_wm.pth").code == 0
    attacks = "none,prune30,weightnoise1%,int8,finetune3,lora3"
    r = wm("eval", "--key", "k.key", "--arch", arch, "--model", "sr_wm.pth", "--attacks", attacks, "-o", "ev", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    rows = {row["attack"]: row for row in doc["model_attacks"]}
    assert list(rows) == attacks.split(",") and doc["edits"] == []  # --attacks alone: no edits
    assert all(row["detected"] for row in rows.values()), rows
    assert rows["none"]["psnr_vs_model"] is None and rows["int8"]["psnr_vs_model"] > 40
    assert "| finetune3 | detected" in Path("ev/eval.md").read_text()
    plain = wm("eval", "--key", "k.key", "--arch", arch, "--model", "sr.pth", "--attacks", "none,prune30", "--json")
    assert not any(row["detected"] for row in json.loads(plain.out)["model_attacks"])


def test_eval_attack_errors_are_one_line(marked_samples, wm):
    marked_samples(1, seed=9)
    r = wm("eval", "--key", "k.key", "--outputs", "marked", "--attacks", "int8")
    assert r.code == 2 and "--model" in r.err
    r = wm("eval", "--key", "k.key", "--arch", "toy_nets:TinySR()", "--model", "x.pth", "--attacks", "quantize")
    assert r.code == 2 and "unknown model attack 'quantize'" in r.err and "Traceback" not in r.err



def test_eval_refuses_a_task_the_model_cannot_serve(marked_samples, wm, monkeypatch):
    marked_samples(1, seed=9)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.save(TinySR().state_dict(), "sr.pth")
    r = wm("eval", "--key", "k.key", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--model", "sr.pth",
           "--attacks", "finetune1", "--task", "denoise")
    assert r.code == 2 and "does not fit a ×2 model" in r.err and r.err.count("\n") == 1
    Path("small").mkdir()
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save("small/a.png")
    r = wm("eval", "--key", "k.key", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--model", "sr.pth",
           "--attacks", "finetune1", "--attack-data", "small")
    assert r.code == 2 and "--attack-data: images must be at least 96 px a side" in r.err and "Traceback" not in r.err


def test_eval_thief_trains_on_the_users_attack_data(marked_samples, wm, monkeypatch):
    marked_samples(1, seed=9)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.save(TinySR().state_dict(), "sr.pth")
    Path("photos").mkdir()  # 8-bit photos, held as uint8 while the thief draws its crops
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 120, 3), np.uint8)).save("photos/a.png")
    args = ("eval", "--key", "k.key", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--model", "sr.pth",
            "--attacks", "finetune1", "--json")
    moved = {}
    for data in ((), ("--attack-data", "photos")):
        r = wm(*args, *data)
        assert r.code in (0, 1), r.err
        row = json.loads(r.out)["model_attacks"][0]
        assert row["attack"] == "finetune1"
        moved[data] = row["psnr_vs_model"]
    assert moved[()] != moved[("--attack-data", "photos")]  # another step: taken on the user's photos


@pytest.mark.parametrize("arch", ["unet", "resnet9", "srvgg"])
def test_surrogates_answer_at_the_victims_scale(arch):
    from wm_plugin.attacks.surrogate import build_surrogate

    net = build_surrogate(arch, scale=2)
    assert net(torch.rand(1, 3, 21, 30)).shape == (1, 3, 42, 60)  # odd sizes too


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory) -> Path:
    """torchvision's VGG19 state dict as users hold it (``features.N.*`` and the classifier), random weights."""
    from wm_plugin.torchvision_ops import declare_torchvision_ops

    declare_torchvision_ops()
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path


def test_the_perceptual_loss_compares_vgg_features_before_their_relus(vgg_weights):
    from wm_plugin.attacks.perceptual import LAYER_WEIGHTS, PerceptualLoss, load_vgg19_features
    from wm_plugin.errors import WeightsError

    features = load_vgg19_features(vgg_weights)
    state = torch.load(vgg_weights, weights_only=True)
    assert torch.equal(features[34].weight, state["features.34.weight"]) and len(features) == 35
    loss = PerceptualLoss(features)
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 32, 32, generator=g)
    near, far = target + 0.01 * torch.randn(target.shape, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    assert loss(target, target) == 0 < loss(near, target) < loss(far, target)
    assert all(loss._maps(target)[i].min() < 0 for i in range(len(LAYER_WEIGHTS)))  # before the ReLUs
    out = near.clone().requires_grad_()
    loss(out, target).backward()
    assert out.grad.abs().sum() > 0 and not any(p.requires_grad for p in features.parameters())
    torch.save({"features.0.weight": state["features.0.weight"]}, vgg_weights.with_name("cut.pth"))
    with pytest.raises(WeightsError, match="not torchvision's VGG19 weights"):
        load_vgg19_features(vgg_weights.with_name("cut.pth"))


@pytest.mark.parametrize("loss", ["l1", "l2", "ssim", "adv", "perceptual"])
def test_a_surrogate_learns_to_imitate_its_victim(loss, request):
    """A few dozen steps bring a U-Net surrogate closer to a (fixed, random) victim's answers than bicubic is."""
    from wm_plugin.attacks.surrogate import train_surrogate
    from wm_plugin.train.procedural import procedural_image

    torch.manual_seed(1)
    victim = nn.Sequential(nn.Upsample(scale_factor=2, mode="bicubic"), nn.Conv2d(3, 3, 5, padding=2))
    rng = np.random.default_rng(2)
    clean = [procedural_image(rng, 64).astype(np.float32) for _ in range(4)]
    perceptual = None
    if loss == "perceptual":
        from wm_plugin.attacks.perceptual import PerceptualLoss, load_vgg19_features

        perceptual = PerceptualLoss(load_vgg19_features(request.getfixturevalue("vgg_weights")))
    surrogate = train_surrogate(victim, clean, arch="unet", loss=loss, task="sr", scale=2, steps=40, lr=2e-3, crop=48,
                                batch=4, perceptual_loss=perceptual, progress=False)
    x = degrade(torch.from_numpy(clean[0]).permute(2, 0, 1)[None], "sr", scale=2)
    with torch.no_grad():
        target = victim(x).clamp(0, 1)
        bicubic = nn.functional.interpolate(x, scale_factor=2, mode="bicubic")
        assert (surrogate(x) - target).abs().mean() < 0.6 * (bicubic - target).abs().mean()


@pytest.mark.parametrize("loss", ["l1", "l2", "ssim"])
def test_the_imitation_loss_pulls_back_outputs_out_of_range(loss):
    """A surrogate whose outputs drift above 1 must still be pushed down: a clamp in the loss would stop it."""
    from wm_plugin.attacks.surrogate import imitation_loss

    torch.manual_seed(0)
    answers = torch.rand(2, 3, 32, 32)
    out = (answers + 1.5).requires_grad_()
    imitation_loss(loss, out, answers).backward()
    assert (out.grad > 0).float().mean() > 0.9  # a gradient step lowers nearly every pixel


def test_a_surrogate_can_be_watched_while_it_learns():
    """on_step sees the network before each step and after the last, in eval mode, its weights moving; the cosine
    schedule shrinks the last step (a quarter of the rate at step 3 of 3), and without it the steps stay alike."""
    from wm_plugin.attacks.surrogate import fit_surrogate

    torch.manual_seed(3)
    x = torch.rand(2, 3, 16, 16)
    for cosine in (True, False):
        seen = []
        net = fit_surrogate(lambda: (x, x.flip(-1)), arch="unet", loss="l1", steps=3, lr=1e-3, cosine=cosine,
                            progress=False,
                            on_step=lambda step, n: seen.append((step, n.training, n.out.weight.clone())))
        assert [s for s, _, _ in seen] == [0, 1, 2, 3] and not any(training for _, training, _ in seen)
        assert torch.equal(seen[-1][2], net.out.weight) and not net.training
        moves = [(b[2] - a[2]).abs().mean().item() for a, b in zip(seen, seen[1:])]
        assert min(moves) > 0
        assert (moves[-1] / moves[0] < 0.5) if cosine else (moves[-1] / moves[0] > 0.7)


def test_eval_runs_a_surrogate_attack(marked_samples, wm, monkeypatch):
    marked_samples(1, seed=9)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    Path("probes").mkdir()  # two small probes keep the surrogate's answers quick
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(f"probes/{i}.png")
    arch = "toy_nets:TinySR(scale=2, width=8)"
    r = wm("eval", "--key", "k.key", "--arch", arch, "--model", "sr.pth", "--data", "probes",
           "--attacks", "surrogate-unet-l1-3", "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["model_attacks"]
    assert row["attack"] == "surrogate-unet-l1-3" and not row["detected"] and 5 < row["psnr_vs_model"] < 60


def test_eval_perceptual_surrogates_need_vgg_weights(marked_samples, wm, monkeypatch, vgg_weights):
    """Without --vgg-weights, or with a file that is not VGG19's, one line before anything trains; with them, a row."""
    marked_samples(1, seed=9)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    run = ["eval", "--key", "k.key", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--model", "sr.pth",
           "--attacks", "surrogate-unet-perceptual-2", "--json"]
    r = wm(*run)
    assert r.code == 2 and "needs --vgg-weights" in r.err and r.err.count("\n") == 1
    r = wm(*run, "--vgg-weights", "sr.pth")
    assert r.code != 0 and "not torchvision's VGG19 weights" in r.err and "Traceback" not in r.err
    r = wm(*run, "--vgg-weights", str(vgg_weights))
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["model_attacks"]
    assert row["attack"] == "surrogate-unet-perceptual-2" and not row["detected"]
