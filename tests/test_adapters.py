"""Entry-point discovery, proved with a real third-party package installed from a fixture."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wm_plugin.adapters import load_adapter, validate_adapter
from wm_plugin.errors import AdapterError, AdapterValidationError

FIXTURE = Path(__file__).parent / "fixtures" / "wm_toy_adapter"


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    """``pip install`` the fixture package into its own folder (a real install: dist-info + entry points)."""
    target = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("src") / "wm_toy_adapter"
    shutil.copytree(FIXTURE, src)  # pip builds in place; keep the repo clean
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True,
    )
    return target


def _wm(site, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from wm_cli.main import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


def test_third_party_adapter_is_found_with_its_distribution(toy_site):
    res = _wm(toy_site, "adapters", "--json", "--check")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["toy"]["distribution"] == "wm-toy-adapter" and rows["toy"]["version"] == "0.0.1"
    assert rows["toy"]["value"] == "wm_toy_adapter:ToyAdapter" and rows["toy"]["status"] == "ok"
    # the broken one is listed, and the check names it and the missing method
    assert "toy-broken" in rows["toy-broken"]["status"] and "save_checkpoint()" in rows["toy-broken"]["status"]


def test_found_adapter_really_works(toy_site, tmp_path):
    code = f"""
import sys, torch
from wm_plugin.adapters import load_adapter
a = load_adapter("toy")
net = torch.nn.Conv2d(3, 3, 3, padding=1)
a.save_checkpoint(net, {str(tmp_path / 'm.safetensors')!r})
m = a.load_model({str(tmp_path / 'm.safetensors')!r})
x = torch.rand(1, 3, 8, 8)
assert torch.allclose(a.run(m, x), net(x).clamp(0, 1))
print("ok", a.name)
"""
    env = {**os.environ, "PYTHONPATH": str(toy_site)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "ok toy", res.stderr


def test_unknown_adapter_and_contract_check():
    with pytest.raises(AdapterError, match="no framework adapter named 'nope'"):
        load_adapter("nope")

    class Half:
        name = "half"

        def load_model(self, checkpoint, **kw):
            return None

    with pytest.raises(AdapterValidationError, match="adapter half does not implement run()"):
        validate_adapter(Half(), "half")
