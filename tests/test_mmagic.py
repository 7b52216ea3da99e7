"""The MMagic adapter against the real MMagic 1.2.0: its registries, its own tools/train.py and
tools/test.py, its files."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import wm_mmagic  # noqa: F401  (compatibility fixes, barrier, hook: before mmagic)  # isort: skip
from mmagic.registry import MODELS
from mmengine.config import Config
from PIL import Image

from conftest import natural_like, run_wm_in, seeded_key
from wm_plugin.codec import DEFAULT_PSNR

ZOO = Path(__file__).parent.parent / "zoo_configs" / "mmagic"
EDSR = str(ZOO / "tiny" / "edsr_tiny_x2.py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out as the tiny configs expect (data/HR, data/LR relative to it), with a key."""
    from wm_plugin.keys import save_key

    root = tmp_path_factory.mktemp("mmagic")
    for sub in ("HR", "LR"):
        (root / "data" / sub).mkdir(parents=True)
    for i in range(3):
        gt = Image.fromarray(np.rint(natural_like(20 + i, 128, 128) * 255).astype(np.uint8))
        gt.save(root / "data" / "HR" / f"{i}.png")
        gt.resize((64, 64), Image.Resampling.BICUBIC).save(root / "data" / "LR" / f"{i}.png")
    save_key(seeded_key(11), root / "owner.key")
    # Two experiment names for one config: MMEngine names its loggers after the experiment and the second,
    # so two runners of one experiment built within a second would share the first one's log file.
    for name in ("flag", "flag_train"):
        (root / f"{name}.py").write_text(f"_base_ = {EDSR!r}\nexperiment_name = {name!r}\ncustom_imports = "
                                         "dict(imports=['wm_mmagic'], allow_failed_imports=False)\n"
                                         "watermark = dict(key='owner.key', mode='absorb')\n")
    return root


@pytest.fixture(scope="module")
def trained(workdir):
    """MMagic's own tools/train.py (through ``wm mmagic-train``) on the tiny EDSR config: 60 iterations."""
    run_wm_in(workdir, "mmagic-train", EDSR, "--work-dir", "plain")
    return trained_path(workdir)


def trained_path(root: Path) -> Path:
    return root / "plain" / "iter_60.pth"


def _mmagic_checkpoint(config: str, path: Path, seed: int = 0) -> Path:
    """A checkpoint as MMagic's model zoo publishes them (``meta`` + ``state_dict``) of a freshly built model."""
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    torch.save({"meta": {"mmagic_version": "1.2.0"}, "state_dict": model.state_dict()}, path)
    return path


def test_compat_imports_models_and_mmcv_ops_fail_only_when_called():
    import mmagic.models  # noqa: F401  (needs mmcv._ext, absent from mmcv-lite)
    from mmcv.utils import ext_loader

    ext = ext_loader.load_ext("_ext", ["deform_conv_forward"])
    with pytest.raises(NotImplementedError, match="deform_conv_forward"):
        ext.deform_conv_forward()


def test_pixel_space_reads_the_preprocessor_and_channel_order():
    from wm_mmagic.space import PixelSpace

    edsr = PixelSpace.from_config(Config.fromfile(EDSR))
    assert edsr == PixelSpace((0.0,) * 3, (255.0,) * 3, bgr=False)  # std 255, pipelines load RGB
    pix2pix = PixelSpace.from_config(Config.fromfile(str(ZOO / "tiny" / "pix2pix_tiny.py")))
    assert pix2pix.mean == (127.5,) * 3 and pix2pix.bgr  # LoadPairedImageFromFile defaults to BGR
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(pix2pix.to_pixels(pix2pix.from_pixels(x)), x, atol=1e-6)
    assert torch.allclose(pix2pix.from_pixels(x)[:, 0], x[:, 2] * 2 - 1, atol=1e-6)


def test_train_writes_mmagic_checkpoints(trained):
    doc = torch.load(trained, map_location="cpu", weights_only=False)  # MMEngine's own file, written by this test
    assert any(k.startswith("generator.") for k in doc["state_dict"]) and "message_hub" in doc


@pytest.fixture(scope="module")
def protected(workdir, trained):
    """``wm protect --framework mmagic`` on the trained EDSR checkpoint (MMEngine's full training file)."""
    out = run_wm_in(workdir, "protect", "--framework", "mmagic", "--config", EDSR, "--checkpoint", trained, "--key",
                    "owner.key", "-o", "edsr_wm.pth", "--data", "data/LR", "--json")
    return workdir, json.loads(out)


def test_protect_edsr_is_detected_and_faithful(protected):
    root, report = protected
    assert report["ok"] and report["protected"]["p_value"] < 1e-6 and not report["original"]["detected"]
    assert report["psnr_vs_original"] >= 42.0
    assert report["written"] == ["edsr_wm.pth", "edsr_wm.py"]
    # MMagic's format, loadable with torch's safe default: meta + state_dict, the generator wrapped.
    doc = torch.load(root / "edsr_wm.pth", map_location="cpu", weights_only=True)
    assert set(doc) == {"meta", "state_dict"} and doc["meta"]["wm_barrier"]["psnr"] == pytest.approx(DEFAULT_PSNR)
    state, original = doc["state_dict"], torch.load(trained_path(root), map_location="cpu",
                                                    weights_only=False)["state_dict"]
    assert torch.equal(state["generator.model.conv_first.weight"], original["generator.conv_first.weight"])
    assert "generator.message" in state and any(k.startswith("generator.embedder.") for k in state)


def test_protected_checkpoint_loads_with_either_config(protected, wm, monkeypatch):
    root, _ = protected
    monkeypatch.chdir(root)
    for config in (EDSR, "edsr_wm.py"):
        r = wm("verify", "--framework", "mmagic", "--config", config, "--model", "edsr_wm.pth", "--key", "owner.key",
               "--data", "data/LR", "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["detected"]


def test_protect_with_a_spectral_key_round_trips_through_mmagic_files(workdir, trained, tmp_path, wm, monkeypatch):
    """The spectral filter as the barrier: saved in MMagic's format, rebuilt from either config, verified."""
    from conftest import seeded_key
    from wm_plugin.keys import save_key

    monkeypatch.chdir(workdir)
    save_key(seeded_key(11, scheme="spectral"), tmp_path / "s.key")
    r = wm("protect", "--framework", "mmagic", "--config", EDSR, "--checkpoint", trained, "--key", tmp_path / "s.key",
           "-o", tmp_path / "edsr_s.pth", "--json")  # probes: the bundled photos (their texture carries the mark)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["ok"], report
    for config in (EDSR, str(tmp_path / "edsr_s.py")):
        r = wm("verify", "--framework", "mmagic", "--config", config, "--model", tmp_path / "edsr_s.pth", "--key",
               tmp_path / "s.key", "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["p_value"] == report["protected"]["p_value"]


def test_a_generator_trained_with_the_flag_and_a_spectral_key_emits_the_mark(workdir, trained, wm, monkeypatch):
    """Issue 5's CPU check: MMagic's own training with the block; the checkpoint, loaded through MMagic's
    registries, answers the held-out photos with the key's mark above chance; the run without the block
    does not. 300 iterations of a tiny EDSR do not reach the 1e-6 target (BasicSR's tiny MSRResNet does in
    150); the real-run figures, detected at 1600 iterations, are in BENCHMARKS.md."""
    from conftest import seeded_key
    from wm_plugin.keys import save_key

    monkeypatch.chdir(workdir)
    save_key(seeded_key(15, scheme="spectral"), workdir / "absorb.key", force=True)
    pipeline = ("[dict(type='LoadImageFromFile', key=k, color_type='color', channel_order='rgb', "
                "imdecode_backend='cv2') for k in ('img', 'gt')] + [dict(type='SetValues', dictionary=dict(scale=2)), "
                "dict(type='PairedRandomCrop', gt_patch_size=128), dict(type='PackInputs')]")
    Path("absorb_spectral.py").write_text(
        f"_base_ = {EDSR!r}\nexperiment_name = 'absorb_spectral'\nrandomness = dict(seed=0)\n"
        "model = dict(generator=dict(mid_channels=16))\n"
        f"train_pipeline = {pipeline}\n"
        "train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))\n"
        "train_cfg = dict(max_iters=300, val_interval=300)\n"
        "default_hooks = dict(checkpoint=dict(interval=300, out_dir=None))\n"
        "custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)\n"
        "watermark = dict(key='absorb.key', mode='absorb', extractor_weight=0.1)\n")
    run_wm_in(workdir, "mmagic-train", "absorb_spectral.py", "--work-dir", "absorb_spectral")
    r = wm("verify", "--framework", "mmagic", "--config", "absorb_spectral.py", "--model",
           "absorb_spectral/iter_300.pth", "--key", "absorb.key", "--json")
    marked = json.loads(r.out)
    assert marked["p_value"] < 1e-2 and marked["bit_accuracy"] > 0.6, marked
    r = wm("verify", "--framework", "mmagic", "--config", EDSR, "--model", trained, "--key", "absorb.key", "--json")
    assert r.code == 1 and json.loads(r.out)["p_value"] > 1e-3


def test_a_generator_trained_with_the_flag_in_trigger_mode_answers_its_trigger(workdir, wm, monkeypatch):
    """``mode='trigger'`` in MMagic's own training, from scratch: the checkpoint, loaded through MMagic's registries,
    answers the key's trigger probes with the key's response, and a stranger's trigger with nothing."""
    from conftest import seeded_key
    from wm_plugin.keys import save_key

    monkeypatch.chdir(workdir)
    save_key(seeded_key(17), workdir / "stranger.key", force=True)
    pipeline = ("[dict(type='LoadImageFromFile', key=k, color_type='color', channel_order='rgb', "
                "imdecode_backend='cv2') for k in ('img', 'gt')] + [dict(type='SetValues', dictionary=dict(scale=2)), "
                "dict(type='PairedRandomCrop', gt_patch_size=128), dict(type='PackInputs')]")
    Path("trigger_flag.py").write_text(
        f"_base_ = {EDSR!r}\nexperiment_name = 'trigger_flag'\nrandomness = dict(seed=0)\n"
        "model = dict(generator=dict(mid_channels=16))\n"
        f"train_pipeline = {pipeline}\n"
        "train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))\n"
        "train_cfg = dict(max_iters=300, val_interval=300)\n"
        "default_hooks = dict(checkpoint=dict(interval=300, out_dir=None))\n"
        "custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)\n"
        "watermark = dict(key='owner.key', mode='trigger', trigger_weight=10.0)\n")  # 300 steps: at full strength
    run_wm_in(workdir, "mmagic-train", "trigger_flag.py", "--work-dir", "trigger_flag")
    verdicts = {}
    for key in ("owner.key", "stranger.key"):
        r = wm("verify", "--framework", "mmagic", "--config", "trigger_flag.py", "--model", "trigger_flag/iter_300.pth",
               "--key", key, "--trigger", "--json")
        verdicts[key] = json.loads(r.out)
    assert verdicts["owner.key"]["detected"] and verdicts["owner.key"]["bit_accuracy"] > 0.75, verdicts["owner.key"]
    assert not verdicts["stranger.key"]["detected"] and verdicts["stranger.key"]["p_value"] > 1e-3


def test_mmagic_own_test_tool_runs_the_protected_config(protected, wm, monkeypatch):
    root, _ = protected
    monkeypatch.chdir(root)
    # its own experiment name: MMEngine keys loggers by experiment and second (see the workdir fixture)
    r = wm("mmagic-test", "edsr_wm.py", "edsr_wm.pth", "--work-dir", "tested",
           "--cfg-options", "experiment_name=tested")
    assert r.code == 0, r.err
    logs = list((root / "tested").glob("*/*.json"))
    assert logs and "tiny/PSNR" in json.loads(logs[0].read_text().splitlines()[-1])


def test_mmagic_inferencer_runs_the_protected_model_and_its_outputs_are_detected(protected, monkeypatch):
    from mmagic.apis import MMagicInferencer

    from wm_plugin import WatermarkCodec, extract, read_image, verify
    from wm_plugin.keys import load_key

    root, _ = protected
    monkeypatch.chdir(root)
    inferencer = MMagicInferencer(model_name="edsr", model_config="edsr_wm.py", model_ckpt="edsr_wm.pth", device="cpu")
    outputs = []
    for lr in sorted(Path("data/LR").glob("*.png")):
        inferencer.infer(img=str(lr), result_out_dir=f"inferred/{lr.name}")
        outputs.append(read_image(f"inferred/{lr.name}"))
    assert outputs[0].rgb_float().shape == (128, 128, 3)
    v = verify([str(i) for i in range(len(outputs))], extract(outputs, codec=WatermarkCodec.from_pretrained()),
               load_key("owner.key"))
    assert v.detected and v.p_value < 1e-6


def test_flag_adds_the_hook_which_marks_targets_and_wraps_the_loss(workdir, monkeypatch):
    from mmengine.runner import Runner

    from wm_mmagic.hook import WatermarkHook
    from wm_plugin.absorb import ExtractorLoss

    monkeypatch.chdir(workdir)
    cfg = Config.fromfile("flag.py")
    cfg.work_dir = str(workdir / "flagged")
    runner = Runner.from_cfg(cfg)  # MMagic's tools/train.py builds it this way
    hooks = [h for h in runner.hooks if isinstance(h, WatermarkHook)]
    assert len(hooks) == 1
    hook = hooks[0]
    hook.before_train(runner)
    assert isinstance(runner.model.pixel_loss, ExtractorLoss)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    before = torch.stack([s.gt_img.float() for s in batch["data_samples"]])
    hook.before_train_iter(runner, 0, batch)
    after = torch.stack([s.gt_img.float() for s in batch["data_samples"]])
    psnr = 10 * torch.log10(255**2 / (after - before).pow(2).mean())
    assert 38 < psnr < 46  # marked at the flag's strength (43.5 dB before clamping and small crops)


def test_train_with_flag_runs_and_logs_the_key(workdir, wm, monkeypatch):
    monkeypatch.chdir(workdir)
    r = wm("mmagic-train", "flag_train.py", "--work-dir", "absorbed")
    assert r.code == 0, r.err
    log = next((workdir / "absorbed").glob("*/*.log")).read_text()
    assert (f"watermark: absorb, key {seeded_key(11).fingerprint}" in log
            and (workdir / "absorbed" / "iter_60.pth").is_file())


@pytest.mark.parametrize("mode", ["absorb", "trigger"])
def test_distributed_training_with_the_flag_on_cpu(workdir, mode):
    """``--launcher pytorch`` under torchrun, 2 processes on the CPU (gloo), the flag on: it trains, and the two
    replicas end with the same weights (in trigger mode the hook averages its own term over the processes)."""
    import subprocess
    import sys

    (workdir / "replica_check.py").write_text(REPLICA_CHECK)
    (workdir / "ddp_check.py").write_text(
        "_base_ = 'flag_train.py'\n"
        "custom_imports = dict(imports=['wm_mmagic', 'replica_check'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='ReplicaCheck')]\n")
    torchrun = Path(sys.executable).with_name("torchrun")

    def launch():
        return subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "wm_cli", "mmagic-train",
                               "ddp_check.py", "--work-dir", f"ddp_{mode}", "--launcher", "pytorch", "--cfg-options",
                               "train_cfg.max_iters=10", "train_cfg.val_interval=10",
                               "default_hooks.checkpoint.interval=10", f"watermark.mode={mode}"],
                              cwd=workdir, capture_output=True, text=True, timeout=240)

    res = launch()
    if res.returncode != 0 and "terminate called without an active exception" in res.stderr:
        # A copy under gloo on the CPU aborts in gloo's own threads now and then (once in about 20 runs here,
        # with the shutdown the adapter does); one more launch tells that apart from a broken flag.
        warnings.warn("gloo aborted a copy; launching again: " + res.stderr[-500:])
        shutil.rmtree(workdir / f"ddp_{mode}", ignore_errors=True)
        res = launch()
    assert res.returncode == 0, res.stderr[-2000:]
    log = next((workdir / f"ddp_{mode}").glob("*/*.log")).read_text()
    assert "Distributed training: True" in log and f"watermark: {mode}" in log
    assert ("trigger height 4/255" in log) == (mode == "trigger")  # the height to verify with, in the log
    assert (workdir / f"ddp_{mode}" / "iter_10.pth").is_file()
    assert float((workdir / f"ddp_{mode}" / "replica_gap.txt").read_text()) == 0.0


REPLICA_CHECK = """
from pathlib import Path

import torch
import torch.distributed as dist
from mmagic.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class ReplicaCheck(Hook):
    def after_train(self, runner):
        model = getattr(runner.model, "module", runner.model)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        if dist.get_rank() == 0:
            gap = (gathered[0] - gathered[1]).abs().max().item()
            Path(runner.work_dir, "replica_gap.txt").write_text(str(gap))
"""


@pytest.mark.parametrize("name", ["pix2pix_tiny.py", "cyclegan_tiny.py"])
def test_protect_translation_generators(name, tmp_path, wm):
    config = str(ZOO / "tiny" / name)
    ckpt = _mmagic_checkpoint(config, tmp_path / "g.pth")
    from wm_plugin.keys import save_key

    save_key(seeded_key(12), tmp_path / "k.key")
    r = wm("protect", "--framework", "mmagic", "--config", config, "--checkpoint", ckpt, "--key", tmp_path / "k.key",
           "-o", tmp_path / "g_wm.pth", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["protected"]["detected"] and not report["original"]["detected"]
    state = torch.load(tmp_path / "g_wm.pth", weights_only=True)["state_dict"]
    domain = Config.fromfile(config).model.default_domain
    assert f"generators.{domain}.message" in state
    assert any(k.startswith("discriminators.") for k in state)  # the rest of the model is kept


@pytest.mark.parametrize("case", ["barrier_flag", "flag_not_a_mapping", "missing_config", "pickled_code", "wrong_arch"])
def test_bad_input_is_one_line_exit_2(case, workdir, tmp_path, wm, monkeypatch):
    monkeypatch.chdir(workdir)
    if case == "barrier_flag":
        (tmp_path / "t.py").write_text(f"_base_ = {EDSR!r}\n"
                                       f"watermark = dict(key={str(workdir / 'owner.key')!r}, mode='barrier')\n")
        r = wm("mmagic-train", tmp_path / "t.py")
        expected = "watermark.mode: barrier is not a training mode"
    elif case == "flag_not_a_mapping":
        (tmp_path / "t.py").write_text(f"_base_ = {EDSR!r}\nwatermark = 'owner.key'\n")
        r = wm("mmagic-train", tmp_path / "t.py")
        expected = "watermark: expected a mapping with at least 'key'"
    elif case == "missing_config":
        r = wm("verify", "--framework", "mmagic", "--config", "nope.py", "--model", "x.pth", "--key", "owner.key")
        expected = "config not found: nope.py"
    elif case == "pickled_code":
        torch.save({"state_dict": {}, "payload": print}, tmp_path / "evil.pth")
        r = wm("verify", "--framework", "mmagic", "--config", EDSR, "--model", tmp_path / "evil.pth",
               "--key", "owner.key")
        expected = "refused: loading it would run pickled code (builtins.print)"
    else:
        ckpt = _mmagic_checkpoint(str(ZOO / "tiny" / "pix2pix_tiny.py"), tmp_path / "p.pth")
        shutil.copy(ckpt, tmp_path / "p2.pth")
        r = wm("verify", "--framework", "mmagic", "--config", EDSR, "--model", tmp_path / "p2.pth",
               "--key", "owner.key")
        expected = "no generator weights"
    assert r.code == 2
    lines = [ln for ln in r.err.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and expected in lines[0], r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("path", sorted(ZOO.glob("*.py")), ids=lambda p: p.stem)
def test_zoo_configs_build_in_mmagic(path):
    """Every shipped config resolves MMagic's own base, builds its generator, has a pixel loss, and carries the flag."""
    from wm_mmagic.adapter import _build, read_config

    cfg = read_config(path)
    assert cfg.watermark == {"key": "owner.key", "mode": "absorb"} and "wm_mmagic" in cfg.custom_imports.imports
    assert cfg.model.get("pixel_loss")  # what absorb training extends
    net = _build(dict(cfg.model.generator), str(path))
    assert sum(p.numel() for p in net.parameters()) > 100_000
