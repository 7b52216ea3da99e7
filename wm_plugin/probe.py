"""Put a suspect model to the test: run it on probe inputs and verify its outputs against a key.

Framework-free: the model is any function from a (1,3,H,W) batch in [0, 1] to its output batch (an
adapter's ``run``). Without ``--data``, the probes are the bundled sample photos, shrunk by the model's
scale (a ×4 super-resolution model gets quarter-size inputs and answers at the photos' own size).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .api import extract, verify
from .codec import WatermarkCodec
from .io import Picture, list_images, read_image, read_images, sample_images_dir
from .keys import OwnerKey
from .metrics import picture_psnr
from .trigger import TRIGGER_AMPLITUDE, Trigger, triggered_logits
from .verify import DEFAULT_FPR, Verdict, verdict

__all__ = ["probe_inputs", "adapter_probes", "sample_task_psnr", "model_outputs", "run_suspect", "as_picture",
           "verify_outputs", "verify_model", "verify_triggered"]

Model = Callable[[torch.Tensor], torch.Tensor]


def probe_inputs(*, scale: int = 1, data: Sequence[str | os.PathLike] | None = None) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×3 float32 in [0, 1]) model inputs: the images in ``data`` as they are, or the samples ÷ ``scale``.

    Raises:
        ImageError: ``data`` holds no readable image.
    """
    files = list_images(data) if data else list_images([sample_images_dir()])
    out = []
    for path in files:
        rgb = read_image(path).rgb_float()
        if not data and scale > 1:
            h, w = rgb.shape[0] // scale, rgb.shape[1] // scale
            im = Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
            rgb = np.asarray(im, np.float32) / 255
        out.append((path.name, rgb))
    return out


def adapter_probes(adapter: Any, config: str | None,
                   data: Sequence[str | os.PathLike] | None = None) -> list[tuple[str, np.ndarray]]:
    """``probe_inputs`` for a model an adapter loads from ``config``: shrunk by the scale the adapter reads there
    (its optional ``model_scale``; 1 where it cannot say)."""
    read = getattr(adapter, "model_scale", None)
    return probe_inputs(scale=read(config) if read and config else 1, data=data)


def sample_task_psnr(outputs: Sequence[np.ndarray]) -> float:
    """Mean PSNR (dB) of a model's answers to the default probes (the bundled photos ÷ its scale, in order)
    against the photos themselves: the ground truth of its task."""
    truth = read_images([sample_images_dir()])
    return float(np.mean([picture_psnr(as_picture(t[: o.shape[0], : o.shape[1]]), as_picture(o))
                          for t, o in zip(truth, outputs)]))


def run_suspect(adapter: Any, checkpoint: str, *, config: str | None, data: Sequence[str | os.PathLike] | None = None,
                device: str = "cpu", progress: bool = True) -> tuple[list[tuple[str, np.ndarray]], list[np.ndarray]]:
    """Load ``checkpoint`` through ``adapter`` and run it on its probe inputs: (inputs, outputs)."""
    net = adapter.load_model(checkpoint, config=config, device=device)
    inputs = adapter_probes(adapter, config, data)
    return inputs, model_outputs(lambda x: adapter.run(net, x), inputs, device=device, progress=progress)


def model_outputs(model: Model, inputs: Sequence[tuple[str, np.ndarray]], *, device: str = "cpu",
                  progress: bool = True) -> list[np.ndarray]:
    """``model``'s output (H×W×3 float32 in [0, 1]) for each input, one image at a time."""
    outs = []
    for _, rgb in tqdm(inputs, desc="running model", unit="img", disable=not progress, leave=False):
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).to(device)
        with torch.no_grad():
            y = model(x).clamp(0, 1)
        outs.append(y[0].permute(1, 2, 0).float().cpu().numpy())
    return outs


def as_picture(rgb: np.ndarray) -> Picture:
    """A model output (H×W×3 float in [0, 1]) as the 8-bit picture a saved output would be."""
    return Picture(np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def verify_outputs(names: Sequence[str], outputs: Sequence[np.ndarray], key: OwnerKey, *, codec: WatermarkCodec,
                   fpr_target: float = DEFAULT_FPR) -> Verdict:
    """Test model outputs (H×W×3 float in [0, 1]), 8-bit quantised as saved outputs would be, against ``key``."""
    return verify(names, extract([as_picture(o) for o in outputs], codec=codec), key, fpr_target=fpr_target)


def verify_model(model: Model, inputs: Sequence[tuple[str, np.ndarray]], key: OwnerKey, *, codec: WatermarkCodec,
                 fpr_target: float = DEFAULT_FPR, progress: bool = True) -> Verdict:
    """Run ``model`` on ``inputs`` and test its outputs against ``key``."""
    outs = model_outputs(model, inputs, device=str(codec.device), progress=progress)
    return verify_outputs([n for n, _ in inputs], outs, key, codec=codec, fpr_target=fpr_target)


def verify_triggered(model: Model, inputs: Sequence[tuple[str, np.ndarray]], key: OwnerKey, *,
                     plain: Sequence[np.ndarray] | None = None, amplitude: float = TRIGGER_AMPLITUDE,
                     device: str = "cpu", fpr_target: float = DEFAULT_FPR,
                     progress: bool = True) -> tuple[Verdict, list[np.ndarray]]:
    """Probe ``model`` with ``inputs`` plain (or take its answers ``plain``, where the caller has them) and with
    ``key``'s trigger (``wm_plugin.trigger``, of height ``amplitude``), and test the response it reads against
    ``key``: (verdict, the answers to the triggered inputs). Each bit is a least-squares coefficient, whose size
    says how far to trust its sign, which the signed-rank test of ``wm_plugin.verify`` weighs."""
    logits, answers = triggered_logits(model, inputs, key, plain=plain, amplitude=amplitude, device=device,
                                       progress=progress)
    carried = Trigger.for_key(key).carried
    return verdict([n for n, _ in inputs], logits, carried, fpr_target=fpr_target), answers
