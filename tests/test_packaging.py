"""What `pip install` puts on the path is exactly the packages of the layout, and tests import them."""

import importlib.metadata
from pathlib import Path

import wm_basicsr
import wm_cli
import wm_mmagic
import wm_plugin
import wm_torch

ROOT = Path(__file__).parent.parent


def test_distribution_installs_the_core_the_cli_and_the_adapters():
    dist = importlib.metadata.distribution("wm-plugin")
    assert set(dist.read_text("top_level.txt").split()) == {"wm_cli", "wm_plugin", "wm_basicsr", "wm_mmagic",
                                                            "wm_torch"}
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"wm": "wm_cli.main:main"}
    adapters = {ep.name: ep.value for ep in dist.entry_points if ep.group == "wm.adapters"}
    assert adapters == {"basicsr": "wm_basicsr.adapter:BasicSRAdapter", "mmagic": "wm_mmagic.adapter:MMagicAdapter",
                        "torch": "wm_torch.adapter:TorchAdapter"}


def test_tests_import_the_installed_code_from_this_tree():
    assert Path(wm_plugin.__file__).parent == ROOT / "wm_plugin"
    assert Path(wm_cli.__file__).parent == ROOT / "cli" / "wm_cli"
    assert Path(wm_basicsr.__file__).parent == ROOT / "adapters" / "wm_basicsr"
    assert Path(wm_mmagic.__file__).parent == ROOT / "adapters" / "wm_mmagic"
    assert Path(wm_torch.__file__).parent == ROOT / "adapters" / "wm_torch"


def test_shipped_weights_are_in_the_package():
    from wm_plugin.codec import default_weights_dir
    from wm_plugin.nets.weights import read_net_metadata

    for name in ("embedder", "extractor"):
        meta = read_net_metadata(default_weights_dir() / f"{name}.safetensors")
        assert meta["recipe"] == "wm_plugin.train.stage1" and int(meta["steps"]) > 0
