"""``wm eval``: image edits on protected outputs, as a table, a JSON object and two files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def marked(marked_samples):
    return marked_samples(2, seed=9)


def test_eval_outputs_table_json_and_files(marked, wm):
    r = wm("eval", "--key", "k.key", "--outputs", "marked", "--edits", "none,jpeg90,crop50%", "-o", "report", "--json")
    assert r.code == 0, r.err
    rows = {row["edit"]: row for row in json.loads(r.out)["edits"]}
    assert list(rows) == ["none", "jpeg90", "crop50%"]
    assert rows["none"]["success_rate"] == 1.0 and rows["none"]["set_detected"]
    assert rows["jpeg90"]["set_detected"] and rows["jpeg90"]["bit_accuracy"] > 0.95
    assert rows["crop50%"]["success_rate"] == 0.0 and not rows["crop50%"]["set_detected"]  # the known weakness
    assert rows["none"]["nc_success_rate"] == 1.0 and rows["crop50%"]["nc_success_rate"] == 0.0  # logo-mode SR
    assert json.loads((marked / "report" / "eval.json").read_text())["edits"][0]["edit"] == "none"
    assert "| jpeg90 | 1.000 |" in (marked / "report" / "eval.md").read_text()
    before = (marked / "report" / "eval.md").read_bytes()
    again = wm("eval", "--key", "k.key", "--outputs", "marked", "--edits", "none", "-o", "report")
    assert again.code == 2 and "--force" in again.err and (marked / "report" / "eval.md").read_bytes() == before


def test_eval_a_protected_model(marked, wm, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    arch = "toy_nets:TinySR(scale=2, width=8)"
    assert wm("protect", "--arch", arch, "--checkpoint", "sr.pth", "--key", "k.key", "-o", "sr_wm.pth").code == 0
    r = wm("eval", "--key", "k.key", "--arch", arch, "--model", "sr_wm.pth", "--edits", "jpeg75,resize0.5", "--json")
    assert r.code == 0, r.err
    assert all(row["set_detected"] for row in json.loads(r.out)["edits"])
    plain = wm("eval", "--key", "k.key", "--arch", arch, "--model", "sr.pth", "--edits", "none", "--json")
    assert not json.loads(plain.out)["edits"][0]["set_detected"]


def test_edits_take_any_strength_of_their_form():
    from wm_plugin.attacks import apply_edit, check_edit, list_edits
    from wm_plugin.attacks.edits import jpeg

    img = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    assert np.array_equal(apply_edit("jpeg60", img), jpeg(img, 60)) and not np.array_equal(jpeg(img, 60), jpeg(img, 90))
    assert apply_edit("crop25%", img).shape == (32, 24, 3) and apply_edit("resize0.75", img).shape == (48, 36, 3)
    assert abs(np.std(apply_edit("noise8/255", img).astype(float) - img) - 8) < 1  # clipping trims a little
    assert np.array_equal(apply_edit("none", img), img)
    for name in list_edits():
        check_edit(name)
    for bad in ("jpeg0", "jpeg101", "crop150%", "crop0%", "resize0", "noise8", "sharpen"):
        with pytest.raises(KeyError, match="known forms"):
            check_edit(bad)
