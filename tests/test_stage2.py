"""Stage 2 (``wm train --stage 2``): surrogates trained, R fine-tuned on their outputs, H untouched."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from wm_cli.main import cli
from wm_plugin.codec import default_weights_dir
from wm_plugin.errors import ConfigError
from wm_plugin.nets import load_net
from wm_plugin.nets.weights import read_net_metadata
from wm_plugin.train.augment import quantize8
from wm_plugin.train.stage2 import Stage2Config, _mark, _Run, train_stage2

TINY = dict(archs=("unet",), surrogate_steps=10, images=16, size=128, crop=32, procedural=16, batch=4, log_every=4)


def test_stage2_writes_a_fine_tuned_reader_beside_the_unchanged_embedder_and_resumes(tmp_path):
    out = tmp_path / "run"
    figures = train_stage2(Stage2Config(out=str(out), steps=4, checkpoint_every=4, **TINY), progress=False)
    shipped = default_weights_dir()
    assert (out / "embedder.safetensors").read_bytes() == (shipped / "embedder.safetensors").read_bytes()
    meta = read_net_metadata(out / "extractor.safetensors")
    assert meta["recipe"] == "wm_plugin.train.stage2" and meta["steps"] == "4"
    ours, public = load_net(out / "extractor.safetensors"), load_net(shipped / "extractor.safetensors")
    assert not torch.equal(ours.readout.weight, public.readout.weight)
    assert set(figures) == {"before", "after"} and set(figures["after"]) >= {"unet-marked", "unet-clean", "direct"}
    surrogates = {p.name: p.read_bytes() for p in (out / "surrogates").iterdir()}
    assert set(surrogates) == {"unet-marked.safetensors", "unet-clean.safetensors"}

    train_stage2(Stage2Config(out=str(out), steps=8, checkpoint_every=4, **TINY), resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in (out / "surrogates").iterdir()} == surrogates  # not trained again
    steps = [json.loads(line).get("step") for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [0, 4, 4, 8, 8]  # before, step 4, calibrated; resumed at 4: step 8, calibrated
    assert read_net_metadata(out / "extractor.safetensors")["steps"] == "8"
    with pytest.raises(ConfigError, match="another psnr"):  # its surrogates were trained on 43.5 dB marks
        train_stage2(Stage2Config(out=str(out), steps=8, psnr=40.0, **TINY), resume=True, progress=False)


def _run_with_surrogate_outputs(tmp_path, shift: int, amplitude: float) -> _Run:
    """A tiny run whose marked surrogate's outputs are its clean twin's plus ``amplitude`` × the true mark
    shifted by ``shift`` px: a faint copy, out of place, as a surrogate might keep it."""
    run = _Run(Stage2Config(out=str(tmp_path), steps=30, lr=1e-3, **{**TINY, "images": 24, "batch": 6}))
    run.train_surrogates(progress=False)
    twin = run.pool.outputs["unet-clean"]
    mark = _mark(run.H, twin, run.messages[0].expand(len(twin), -1), 30.0) - twin
    run.pool.outputs["unet-marked"] = quantize8((twin + amplitude * mark.roll(shift, dims=-1)).clamp(0, 1))
    return run


def test_stage2_teaches_the_reader_a_mark_the_surrogates_kept_out_of_place(tmp_path):
    torch.manual_seed(0)
    run = _run_with_surrogate_outputs(tmp_path, shift=8, amplitude=0.5)
    before = run.validate(run.R0)
    for _ in range(run.cfg.steps):
        run.train_step()
    run.calibrated_extractor()
    after = run.validate()
    # Held-out images: the stage-1 reader misses the shifted mark, the stage-2 one reads it and still reads
    # nothing in the clean twin's outputs nor in clean images, and still reads direct marks.
    assert not before["unet-marked"]["detected"] and before["unet-marked"]["bit_accuracy"] < 0.75
    assert after["unet-marked"]["mark_kept"] == before["unet-marked"]["mark_kept"] < 0.5  # out of place
    assert after["unet-marked"]["detected"] and after["unet-marked"]["bit_accuracy"] > 0.9
    assert not after["unet-clean"]["detected"] and 0.3 < after["unet-clean"]["bit_accuracy"] < 0.7
    assert 0.35 < after["clean_images"] < 0.65 and after["direct"] > 0.95


def test_stage2_learns_no_message_from_twins_whose_outputs_do_not_differ(tmp_path):
    # The trap the difference objective avoids: asked to read the message from the marked surrogate's
    # outputs and "no mark" from the twin's, R read the message in the twin's outputs too (0.88 in a trial).
    torch.manual_seed(0)
    run = _run_with_surrogate_outputs(tmp_path, shift=0, amplitude=0.0)
    for _ in range(run.cfg.steps):
        run.train_step()
    run.calibrated_extractor()
    after = run.validate()
    for kind in ("unet-marked", "unet-clean"):
        assert not after[kind]["detected"] and 0.3 < after[kind]["bit_accuracy"] < 0.7
    assert after["unet-marked"]["mark_kept"] == 0  # the twins' outputs are the same


@pytest.mark.parametrize("fields, message", [
    (dict(archs=("vgg",)), "unknown surrogate arch 'vgg'"),
    (dict(loss="perceptual"), "unknown surrogate loss"),
    (dict(task="sr"), "does not fit a ×1 model"),
    (dict(task="sr", scale=4, crop=66), "multiples of the scale"),
    (dict(images=4), "at least 8 clean images"),
])
def test_stage2_config_errors_name_the_bad_value(tmp_path, fields, message):
    with pytest.raises(ConfigError, match=message):
        Stage2Config(out=str(tmp_path), **fields)


def test_wm_train_stage2_cli_runs_and_rejects_stage1_options(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["train", "--stage", "2", "--out", str(tmp_path / "x"), "--private"])
    assert bad.exit_code == 2 and "--private applies to stage 1 only" in bad.output
    bad = runner.invoke(cli, ["train", "--out", str(tmp_path / "x"), "--surrogate-steps", "5"])
    assert bad.exit_code == 2 and "--surrogate-steps applies to stage 2 only" in bad.output
    out = tmp_path / "run"
    ok = runner.invoke(cli, ["train", "--stage", "2", "--out", str(out), "--task", "sr", "--archs", "unet",
                             "--surrogate-steps", "3", "--steps", "2", "--batch", "2", "--procedural", "8"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["out"] == str(out) and "unet-marked" in doc["after"]
    assert json.loads((out / "config.json").read_text())["scale"] == 2  # --task sr without --scale: ×2
