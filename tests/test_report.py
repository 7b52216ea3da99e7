"""``wm verify --report DIR``: the evidence page and the images it shows."""

from __future__ import annotations

import hashlib
import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"


class _Page(html.parser.HTMLParser):
    """The parts of the page a reader relies on: elements by id, image sources, table rows."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.images, self.rows, self._open = {}, [], 0, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "tr":
            self.rows += 1
        self._open = attrs.get("id")

    def handle_data(self, data):
        if self._open:
            self.ids[self._open] = self.ids.get(self._open, "") + data

    def handle_endtag(self, tag):
        self._open = None


@pytest.fixture
def folder(marked_samples):
    return marked_samples(3, seed=21)


def test_report_of_detected_outputs(folder, wm):
    from wm_plugin.keys import load_key

    r = wm("verify", "--key", "k.key", "--outputs", "marked", "--report", "evidence")
    assert r.code == 0, r.err
    text = (folder / "evidence" / "report.html").read_text()
    page = _Page(text)
    key = load_key("k.key")
    assert page.ids["verdict"] == "DETECTED" and page.ids["fingerprint"] == key.fingerprint
    assert "--report evidence" in page.ids["command"]
    assert page.rows == 1 + 3 and len(page.images) == 2 + 2 * 3  # the message twice; per image output + texture
    for src in page.images:
        assert Image.open(folder / "evidence" / src).format == "PNG"
    assert key.seed.hex() not in text and "64/64" in text and "<svg" in text
    assert float(page.ids["nc"]) > 0.99  # the message read is the owner's
    owner, read = (np.asarray(Image.open(folder / "evidence" / f"message_{n}.png")) for n in ("key", "read"))
    assert np.array_equal(owner > 128, read > 128)
    again = wm("verify", "--key", "k.key", "--outputs", "marked", "--report", "evidence")
    assert again.code == 2 and "choose another --report folder" in again.err


def test_report_of_a_clean_model_with_its_probe_inputs(folder, wm, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    from toy_nets import TinySR

    torch.manual_seed(0)
    torch.save(TinySR().state_dict(), "sr.pth")
    r = wm("verify", "--key", "k.key", "--arch", "toy_nets:TinySR()", "--model", "sr.pth",
           "--report", "clean", "--json")
    assert r.code == 1 and not json.loads(r.out)["detected"]
    page = _Page((folder / "clean" / "report.html").read_text())
    assert page.ids["verdict"] == "NOT DETECTED"
    assert sum(src.startswith("input_") for src in page.images) == 4  # the four bundled probe photos
    text = (folder / "clean" / "report.html").read_text()
    assert hashlib.sha256(Path("sr.pth").read_bytes()).hexdigest() in text  # which bytes were tested


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="needs chromium (.ci/run installs it: apt-get install chromium)")
def test_report_renders_in_headless_chromium(folder, wm):
    assert wm("verify", "--key", "k.key", "--outputs", "marked", "--report", "evidence").code == 0
    page = (folder / "evidence" / "report.html").resolve()
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert '<p class="verdict" id="verdict">DETECTED</p>' in dom
    assert 'data-images-loaded="8"' in dom  # every picture on the page was found and decoded by the browser
