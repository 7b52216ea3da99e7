"""Suspect checkpoints are opened without running code from them (wm_plugin.checkpoint)."""

from __future__ import annotations

import collections
import pickle

import pytest
import torch

from wm_plugin.checkpoint import Inert, load_checkpoint, save_checkpoint
from wm_plugin.errors import WeightsError

RAN = []


class Bookkeeping:
    """Stands for a framework's own logging object (MMEngine's HistoryBuffer) pickled beside the weights."""

    def __init__(self):
        self.values = [1.0, 2.0]

    def __setstate__(self, state):
        RAN.append("setstate")


def _record(*args):
    RAN.append(args)
    return "called"


class Payload:
    """An object whose unpickling calls a function: the way pickled code runs."""

    def __reduce__(self):
        return (_record, ("payload",))


def test_plain_weights_load_as_they_are(tmp_path):
    state = collections.OrderedDict(w=torch.arange(4.0))
    torch.save({"state_dict": state, "meta": {"iter": 3}}, tmp_path / "c.pth")
    doc = load_checkpoint(tmp_path / "c.pth")
    assert torch.equal(doc["state_dict"]["w"], state["w"]) and doc["meta"] == {"iter": 3}


def test_allowed_bookkeeping_loads_inert_and_runs_nothing(tmp_path):
    RAN.clear()
    torch.save({"state_dict": {"w": torch.ones(2)}, "hub": Bookkeeping(), "call": Payload()}, tmp_path / "c.pth")
    doc = load_checkpoint(tmp_path / "c.pth", inert=(f"{__name__}.",))
    assert isinstance(doc["hub"], Inert) and isinstance(doc["call"], Inert)
    assert torch.equal(doc["state_dict"]["w"], torch.ones(2))
    assert RAN == []  # neither the class's code nor the function ran


@pytest.mark.parametrize("inert", [(), ("mmengine.",)])
def test_other_globals_are_refused_by_name(tmp_path, inert):
    RAN.clear()
    torch.save({"state_dict": {}, "call": Payload()}, tmp_path / "c.pth")
    with pytest.raises(WeightsError, match=rf"refused: loading it would run pickled code \({__name__}._record\)"):
        load_checkpoint(tmp_path / "c.pth", inert=inert)
    assert RAN == []


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", pickle.dumps([1, 2])[:5]])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "c.pth").write_bytes(content)
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "c.pth")


def test_missing_and_folder(tmp_path):
    with pytest.raises(WeightsError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_safetensors_checkpoints(tmp_path):
    from safetensors.torch import save_file

    save_file({"generator.w": torch.arange(3.0)}, tmp_path / "c.safetensors")
    assert torch.equal(load_checkpoint(tmp_path / "c.safetensors")["generator.w"], torch.arange(3.0))
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_save_checkpoint_is_whole_or_nothing(tmp_path):
    path = tmp_path / "net.pth"
    save_checkpoint({"params": {"w": torch.arange(3.0)}}, path)
    assert torch.equal(load_checkpoint(path)["params"]["w"], torch.arange(3.0))
    with pytest.raises(AttributeError, match="pickle"):
        save_checkpoint({"params": {"w": torch.ones(2)}, "bad": lambda: None}, path)  # fails mid-write
    assert torch.equal(load_checkpoint(path)["params"]["w"], torch.arange(3.0))  # the old file, untouched
    assert [f.name for f in tmp_path.iterdir()] == ["net.pth"]  # and no temporary left beside it


def test_a_safetensors_path_gets_the_weights_as_safetensors_and_a_barrier_layout_is_refused(tmp_path):
    from safetensors.torch import load_file

    from wm_plugin.checkpoint import read_state_dict

    weights = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}
    save_checkpoint({"params": weights, "params_ema": weights}, tmp_path / "m.safetensors", weights="params")
    back = load_file(str(tmp_path / "m.safetensors"))  # a real safetensors file, not a pickle under that name
    assert back.keys() == weights.keys() and all(torch.equal(back[k], weights[k]) for k in weights)
    state, doc = read_state_dict(tmp_path / "m.safetensors", ("params",))
    assert torch.equal(state["conv.weight"], weights["conv.weight"]) and doc == {}
    with pytest.raises(WeightsError, match=r"keeps more than tensors .*name it \.pth"):
        save_checkpoint({"params": weights, "wm_barrier": {"bits": 64}}, tmp_path / "b.safetensors")
    assert not (tmp_path / "b.safetensors").exists()
