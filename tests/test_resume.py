"""Long training saved as it goes and resumed (the attacks, the trigger's implant): a stopped run ends where an
unbroken one would."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import seeded_key
from wm_plugin.attacks import finetune as finetune_module
from wm_plugin.attacks.finetune import finetune
from wm_plugin.attacks.surrogate import train_surrogate
from wm_plugin.errors import ConfigError
from wm_plugin.implant import implant_trigger
from wm_plugin.train.procedural import procedural_image
from wm_plugin.trigger import Trigger, TriggerObjective

FIXTURES = Path(__file__).parent / "fixtures"


class Stop(Exception):
    pass


def clean_images() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    return [procedural_image(rng, 48).astype(np.float32) for _ in range(3)]


def victim() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_stopped_surrogate_resumes_to_the_weights_of_an_unbroken_run(tmp_path):
    """The adversarial loss on denoising: networks, optimisers, schedule and the noise stream all come back."""
    args = dict(arch="unet", loss="adv", task="denoise", steps=6, lr=1e-3, crop=32, batch=2, progress=False)
    unbroken = train_surrogate(victim(), clean_images(), **args)

    def stop_at_4(step, net):
        if step == 4:
            raise Stop
    ckpt = tmp_path / "surrogate.pt"
    with pytest.raises(Stop):
        train_surrogate(victim(), clean_images(), **args, checkpoint=ckpt, checkpoint_every=2, on_step=stop_at_4)
    assert torch.load(ckpt, weights_only=True)["step"] == 4
    seen = []
    resumed = train_surrogate(victim(), clean_images(), **args, checkpoint=ckpt, checkpoint_every=2,
                              on_step=lambda step, net: seen.append(step))
    assert seen == [4, 5, 6] and same_weights(resumed, unbroken)
    assert not same_weights(resumed, train_surrogate(victim(), clean_images(), **{**args, "steps": 4}))


def test_a_finished_run_is_not_redone_and_another_runs_file_is_refused(tmp_path):
    ckpt = tmp_path / "surrogate.pt"
    args = dict(arch="unet", loss="l1", task="denoise", steps=3, lr=1e-3, crop=32, batch=2, progress=False,
                checkpoint=ckpt)
    first = train_surrogate(victim(), clean_images(), **args)
    saved = ckpt.stat().st_mtime_ns
    seen = []
    again = train_surrogate(victim(), clean_images(), **args, on_step=lambda step, net: seen.append(step))
    assert seen == [3] and same_weights(again, first) and ckpt.stat().st_mtime_ns == saved
    with pytest.raises(ConfigError, match="another run.*lr"):
        train_surrogate(victim(), clean_images(), **{**args, "lr": 2e-3})
    other = victim()
    with torch.no_grad():
        other[0].bias += 0.01
    with pytest.raises(ConfigError, match="another run.*victim"):
        train_surrogate(other, clean_images(), **args)
    with pytest.raises(ConfigError, match="another run.*clean"):  # other images of the same sizes
        train_surrogate(victim(), [np.flipud(x) for x in clean_images()], **args)


@pytest.mark.parametrize("lora_rank", [None, 2])
def test_a_stopped_fine_tuning_resumes_to_the_weights_of_an_unbroken_run(tmp_path, monkeypatch, lora_rank):
    args = dict(task="denoise", steps=5, lr=1e-3, lora_rank=lora_rank, crop=32, batch=2, progress=False)
    unbroken = finetune(victim(), clean_images(), **args)
    calls, degrade = [], finetune_module.degrade

    def interrupted(*a, **k):  # the thief's Ctrl-C in the fourth step
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return degrade(*a, **k)
    monkeypatch.setattr(finetune_module, "degrade", interrupted)
    ckpt = tmp_path / "finetune.pt"
    with pytest.raises(KeyboardInterrupt):
        finetune(victim(), clean_images(), **args, checkpoint=ckpt, checkpoint_every=3)
    monkeypatch.setattr(finetune_module, "degrade", degrade)
    assert torch.load(ckpt, weights_only=True)["step"] == 3
    resumed = finetune(victim(), clean_images(), **args, checkpoint=ckpt, checkpoint_every=3)
    assert same_weights(resumed, unbroken)


def test_a_stopped_implant_resumes_to_the_weights_of_an_unbroken_run(tmp_path, monkeypatch):
    """``wm protect --mode trigger`` on a CPU can take an hour: model, optimiser, crops and envelopes come back; a file
    of an implant with another trigger is refused."""
    args = dict(steps=5, lr=1e-2, output_crop=32, batch=2, progress=False)
    trigger = Trigger.for_key(seeded_key(3))
    unbroken = implant_trigger(victim(), clean_images(), trigger, **args)
    calls, triggered = [], TriggerObjective.triggered

    def interrupted(self, *a, **k):  # Ctrl-C in the fourth step
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return triggered(self, *a, **k)
    monkeypatch.setattr(TriggerObjective, "triggered", interrupted)
    ckpt = tmp_path / "implant.pt"
    with pytest.raises(KeyboardInterrupt):
        implant_trigger(victim(), clean_images(), trigger, **args, checkpoint=ckpt, checkpoint_every=3)
    monkeypatch.setattr(TriggerObjective, "triggered", triggered)
    assert torch.load(ckpt, weights_only=True)["step"] == 3
    resumed = implant_trigger(victim(), clean_images(), trigger, **args, checkpoint=ckpt, checkpoint_every=3)
    assert same_weights(resumed, unbroken)
    assert not same_weights(resumed, implant_trigger(victim(), clean_images(), trigger, **{**args, "steps": 3}))
    with pytest.raises(ConfigError, match="another run.*trigger"):
        implant_trigger(victim(), clean_images(), Trigger.for_key(seeded_key(4)), **args, checkpoint=ckpt)


def test_eval_saves_its_training_attacks_and_does_not_redo_them(marked_samples, wm, monkeypatch):
    marked_samples(1, seed=9)
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    os.mkdir("probes")
    for i, image in enumerate(clean_images()[:2]):  # small probes keep the surrogate's answers quick
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(f"probes/{i}.png")
    argv = ["eval", "--key", "k.key", "--arch", "toy_nets:TinySR(scale=2, width=8)", "--model", "sr.pth",
            "--data", "probes", "--attacks", "finetune3,surrogate-unet-l1-3", "--checkpoints", "ck", "--json"]
    first = wm(*argv)
    assert first.code == 0, first.err
    files = sorted(os.listdir("ck"))
    assert files == ["finetune3.pt", "surrogate-unet-l1-3.pt"]
    stamps = [Path("ck", f).stat().st_mtime_ns for f in files]
    second = wm(*argv)
    assert second.code == 0, second.err
    rows = [[{k: v for k, v in row.items() if k != "seconds"} for row in json.loads(r.out)["model_attacks"]]
            for r in (first, second)]
    assert rows[0] == rows[1] and [Path("ck", f).stat().st_mtime_ns for f in files] == stamps

    blocked = wm(*argv[:-3], "--checkpoints", "sr.pth/ck")  # under a file: said before any training starts
    assert blocked.code != 0 and blocked.err.count("\n") == 1 and "--checkpoints" in blocked.err
