"""Shared fixtures: seeded tiny images, keys, the shipped codec, and a runner for the real ``wm`` CLI."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@dataclasses.dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def wm(capsys):
    """Run ``wm ARGS...`` in-process through the console-script entry point; returns code, stdout, stderr."""
    from wm_cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_wm_in(folder: Path, *args: str) -> str:
    """Run ``wm ARGS...`` in-process with ``folder`` as the working directory (for module-scoped fixtures,
    where ``monkeypatch`` and ``capsys`` are not available); assert it succeeded; return its stdout."""
    import contextlib
    import io
    import os

    from wm_cli.main import main

    cwd, out = os.getcwd(), io.StringIO()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
    finally:
        os.chdir(cwd)
    assert e.value.code in (0, None), out.getvalue()
    return out.getvalue()


@pytest.fixture
def marked_samples(tmp_path, monkeypatch, wm, sample_paths):
    """``marked_samples(n, seed)``: ``tmp_path`` becomes the working folder, with a seeded ``k.key`` and the first
    ``n`` bundled photos marked by ``wm embed`` into ``marked/``; returns the folder."""
    from wm_plugin.keys import save_key

    def make(n: int, seed: int) -> Path:
        monkeypatch.chdir(tmp_path)
        save_key(seeded_key(seed), "k.key")
        assert wm("embed", "--key", "k.key", *sample_paths[:n], "-o", "marked").code == 0
        return tmp_path

    return make


@pytest.fixture(scope="session")
def codec():
    from wm_plugin.codec import WatermarkCodec

    return WatermarkCodec.from_pretrained()


def seeded_key(seed: int, bits: int = 64, scheme: str = "deep"):
    """A reproducible owner key (``generate_key`` draws from the OS and cannot be seeded)."""
    from wm_plugin.keys import OwnerKey

    rng = np.random.default_rng(seed)
    return OwnerKey(rng.bytes(32), tuple(int(b) for b in rng.integers(0, 2, bits)), "test", scheme)


@pytest.fixture(scope="session")
def key():
    return seeded_key(0)


def natural_like(seed: int, h: int, w: int) -> np.ndarray:
    """A seeded H×W×3 float image with edges, flat areas and texture (dead leaves), in [0, 1]."""
    from wm_plugin.train.procedural import dead_leaves

    rng = np.random.default_rng(seed)
    side = max(h, w)
    return dead_leaves(rng, side, rmin=3.0)[:h, :w]


@pytest.fixture(scope="session")
def sample_paths() -> list[Path]:
    from wm_plugin.io import list_images, sample_images_dir

    return list_images([sample_images_dir()])


def pytest_report_header(config):
    return f"torch {torch.__version__}, python {sys.version.split()[0]}"
