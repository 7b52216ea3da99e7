"""Stage-1 training for real, on a tiny configuration: it learns, it resumes exactly, it exports."""

import dataclasses
import json
import os

import numpy as np
import torch

from wm_plugin.codec import WatermarkCodec
from wm_plugin.nets import load_net
from wm_plugin.train.stage1 import Stage1Config, train_stage1

TINY = dict(bits=8, size=64, batch=8, procedural=16, log_every=10, grey_share=0.0)


def test_tiny_run_learns_to_read_its_mark_and_not_clean_images(tmp_path):
    # R must read the mark before distortions and fidelity losses arrive (the recipe's gentle start).
    cfg = Stage1Config(out=str(tmp_path), steps=150, psnr_start=24.0, psnr_range=(30.0, 32.0), checkpoint_every=150,
                       attack_ramp=(0.6, 1.0), fidelity_ramp=(0.6, 1.0), **TINY)
    figures = train_stage1(cfg, progress=False)
    assert figures["val_acc"] > 0.9, figures
    assert figures["val_acc_clean"] < 0.75, figures  # the clean loss keeps R from reading a constant
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "acc_clean" in r]
    assert [r["step"] for r in steps] == list(range(10, 151, 10))
    assert log[-1]["calibrated"] and log[-1]["val_acc_clean"] < 0.75
    codec = WatermarkCodec.from_pretrained(tmp_path, psnr=31.0)
    assert (codec.bits, codec.size) == (8, 64)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = Stage1Config(out=str(tmp_path / "a"), steps=40, checkpoint_every=20, **TINY)
    train_stage1(straight, progress=False)
    split = Stage1Config(out=str(tmp_path / "b"), steps=40, checkpoint_every=20, **TINY)
    train_stage1(split, until=25, progress=False)  # interrupted off the checkpoint grid
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 25
    train_stage1(split, resume=True, progress=False)
    a = load_net(tmp_path / "a" / "extractor.safetensors").state_dict()
    b = load_net(tmp_path / "b" / "extractor.safetensors").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 40


def test_train_command_writes_loadable_weights(wm, tmp_path):
    res = wm("train", "--out", tmp_path, "--steps", "4", "--batch", "2", "--procedural", "4", "--bits", "16",
             "--size", "64")
    assert res.code == 0, res.err
    assert json.loads(res.out.strip().splitlines()[-1])["val_acc"] >= 0
    embedder = load_net(tmp_path / "embedder.safetensors")
    assert (embedder.bits, embedder.size) == (16, 64)
    res = wm("train", "--out", tmp_path / "more", "--init", tmp_path, "--steps", "1", "--size", "128")
    assert res.code == 2 and "its networks are 64px, not 128px" in res.err and "Traceback" not in res.err
    assert wm("train", "--out", tmp_path, "--size", "100").code == 2  # the networks' grid: 64, 128, 256 or 512


def test_init_fine_tunes_from_given_weights(tmp_path):
    train_stage1(Stage1Config(out=str(tmp_path / "a"), steps=4, **TINY), progress=False)
    # lr 0: Adam moves nothing, so the exported embedder is exactly the one it started from.
    train_stage1(Stage1Config(out=str(tmp_path / "b"), steps=1, lr=0.0, init=str(tmp_path / "a"), **TINY),
                 progress=False)
    a = load_net(tmp_path / "a" / "embedder.safetensors").state_dict()
    b = load_net(tmp_path / "b" / "embedder.safetensors").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_keeps_the_embedders_settings_unless_given(tmp_path):
    """A fine-tune of the shipped weights (chroma smoothing on, set after training) must not drop the setting."""
    first = Stage1Config(out=str(tmp_path / "a"), steps=2, chroma_smoothing=1, detail_floor=0.05, **TINY)
    train_stage1(first, progress=False)
    kept = Stage1Config.fine_tune(str(tmp_path / "a"), out=str(tmp_path / "b"), **TINY)
    assert (kept.chroma_smoothing, kept.detail_floor) == (1, 0.05)
    inherited = Stage1Config.fine_tune(str(tmp_path / "a"), out=str(tmp_path / "c"))
    assert (inherited.bits, inherited.size) == (8, 64)  # the networks' shape comes with them
    assert Stage1Config.fine_tune(str(tmp_path / "a"), out=str(tmp_path / "c"),
                                  chroma_smoothing=0).chroma_smoothing == 0
    train_stage1(dataclasses.replace(kept, steps=1), progress=False)
    assert load_net(tmp_path / "b" / "embedder.safetensors").chroma_smoothing == 1


def test_timm_backbones_train_export_and_read(wm, tmp_path):
    cfg = Stage1Config(out=str(tmp_path), steps=4, extractor_backbone="test_resnet",
                       discriminator_backbone="test_convnext", **TINY)
    train_stage1(cfg, progress=False)
    r = load_net(tmp_path / "extractor.safetensors")
    assert type(r).__name__ == "TimmExtractor" and r.config["backbone"] == "test_resnet"
    codec = WatermarkCodec.from_pretrained(tmp_path)
    assert codec.extract([torch.rand(80, 96, 3).numpy()]).shape == (1, 8)
    res = wm("train", "--out", tmp_path / "x", "--steps", "1", "--extractor-backbone", "resnet181")
    assert res.code == 2 and "timm has no model 'resnet181'" in res.err and "resnet18" in res.err
    assert "Traceback" not in res.err


def test_a_timm_extractor_learns_the_mark(tmp_path):
    # A strong mark (20 dB): the point is that the loop trains a timm backbone, not how fast it learns.
    cfg = Stage1Config(out=str(tmp_path), steps=200, psnr_start=20.0, psnr_range=(20.0, 20.0), checkpoint_every=200,
                       attack_ramp=(0.6, 1.0), fidelity_ramp=(0.6, 1.0), extractor_backbone="test_convnext", **TINY)
    figures = train_stage1(cfg, progress=False)
    assert figures["val_acc"] > 0.8 and figures["val_acc_clean"] < 0.75, figures  # 0.87 / 0.48 measured


def test_torchrun_trains_two_copies_in_step_with_their_own_batches(tmp_path):
    """``wm train`` under torchrun with 2 CPU processes (gloo), stopped and resumed: rank 0 alone writes, the
    gradients are averaged (both copies end with the same weights), each copy draws its own batches."""
    import subprocess
    import sys

    def torchrun(*args):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "wm_cli",
               "train", "--out", str(tmp_path), "--steps", "6", "--batch", "2", "--procedural", "4", "--bits", "8",
               "--size", "64", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    first = torchrun("--until", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3
    second = torchrun("--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(second.stdout.strip().splitlines()) == 1 and json.loads(second.stdout)["val_acc"] >= 0  # rank 0's answer
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6 and len(state["replicas"]) == 2
    a, b = state["replicas"]
    assert a["checksum"] == b["checksum"]
    assert not torch.equal(a["generator"], b["generator"])
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [6, 6] and log[-1]["calibrated"]  # one writer: no duplicated lines
    assert load_net(tmp_path / "extractor.safetensors").bits == 8


def test_a_private_pair_is_read_by_its_own_extractor_and_not_by_the_public_one(tmp_path):
    public = Stage1Config(out=str(tmp_path / "public"), steps=150, psnr_start=24.0, psnr_range=(30.0, 32.0),
                          checkpoint_every=150, attack_ramp=(0.6, 1.0), fidelity_ramp=(0.6, 1.0), **TINY)
    assert train_stage1(public, progress=False)["val_acc"] > 0.9
    private = Stage1Config.fine_tune(str(tmp_path / "public"), out=str(tmp_path / "private"), steps=200,
                                     psnr_range=(30.0, 32.0), lr=1e-3, checkpoint_every=200,
                                     escape=str(tmp_path / "public"), **TINY)
    figures = train_stage1(private, progress=False)
    assert figures["val_acc"] > 0.8, figures  # the private extractor reads the private marks (0.85 measured)
    # the public one reads chance, neither the bits nor their inverse
    assert 0.35 < figures["val_acc_public"] < 0.65, figures


def test_train_private_escapes_the_shipped_extractor_by_default(wm, tmp_path):
    res = wm("train", "--private", "--out", tmp_path, "--steps", "2", "--batch", "2", "--procedural", "4")
    assert res.code == 0, res.err
    assert "val_acc_public" in json.loads(res.out.strip().splitlines()[-1])  # the shipped reader was watched
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["escape"] == config["init"] and config["init"].endswith("weights")


def test_training_images_hold_8_bit_photos_as_uint8_and_draw_them_as_floats(tmp_path):
    from PIL import Image

    from wm_plugin.train.data import TrainingImages

    Image.fromarray(np.full((80, 100, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    images = TrainingImages(64, procedural=0, folders=(str(tmp_path),))
    assert images.photos[0].dtype == torch.uint8  # a folder of photos held at a quarter of the memory
    batch = images.batch(4, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 3, 64, 64) and batch.dtype == torch.float32
    assert torch.allclose(batch, torch.full_like(batch, 200 / 255), atol=1e-6)
