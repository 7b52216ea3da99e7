"""Training with the flag: a BasicSR model class wrapping whatever ``model_type`` the options file names.

``watermarked_model(SRModel)`` is ``WatermarkedSRModel``, registered in BasicSR's ``MODEL_REGISTRY``. It
changes the optimisation step of the base class and nothing else (data, validation, logging, saving, resume
and distributed training are the base class's own). With ``mode: absorb``:

* before each optimisation step the targets ``gt`` are marked by the frozen embedder (the network learns to
  emit marked images, so no separate barrier is left for a thief to cut off);
* the pixel loss gains an extractor term: the frozen extractor must read the owner's bits in the
  network's output (weight ``watermark.extractor_weight``).

With ``mode: trigger`` the generator's optimiser, just before it steps, adds the gradient of the trigger term
(``wm_plugin.trigger.TriggerObjective.for_flag``: its weight falls to ``watermark.trigger_weight``): the
network's answer to half the batch's inputs with the key's trigger must differ from its answer to the same inputs
plain by the owner's response. The base class's losses, and its discriminator if it has one, see the batch they
always saw.

Validation compares the network's output with the unmarked targets, so the PSNR BasicSR logs is the
PSNR a user of the model sees.
"""

from __future__ import annotations

import functools

from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from wm_plugin.absorb import ExtractorLoss, TargetMarker
from wm_plugin.errors import ConfigError
from wm_plugin.flag import check_training_mode, parse_flag
from wm_plugin.trigger import TriggerObjective

__all__ = ["watermarked_model", "build_watermarked_model"]


class WatermarkTraining:
    """Mixin placed before a BasicSR model class; reads ``opt['watermark']``."""

    def init_training_settings(self):
        super().init_training_settings()
        flag = parse_flag(self.opt["watermark"])
        check_training_mode(flag)
        self.wm_trigger, self.wm_iter, self.wm_trigger_loss = None, 0, None
        if flag.mode == "trigger":
            self.wm_trigger = TriggerObjective.for_flag(flag, self.opt["train"].get("total_iter") or 0)
            self.optimizer_g.register_step_pre_hook(self._add_trigger_gradient)
            return
        if self.cri_pix is None:
            raise ConfigError("train.pixel_opt: absorbing the watermark needs a pixel loss (e.g. L1Loss)")
        self.wm_marker = TargetMarker(flag).to(self.device)
        self.cri_pix = ExtractorLoss(self.cri_pix, flag).to(self.device)

    def _mark_targets(self) -> None:
        self.gt = self.wm_marker(self.gt)

    def _add_trigger_gradient(self, optimizer, args, kwargs) -> None:
        """Before the generator's optimiser steps: the trigger term's gradient, added to the task's."""
        queries, envelope = self.wm_trigger.queries(self.lq, self.wm_iter)
        loss = self.wm_trigger.pair_loss(self.net_g(queries), envelope)  # the base's graph is spent: a pass of our own
        loss.backward()
        self.wm_trigger_loss = loss.item()

    def optimize_parameters(self, current_iter):
        if self.wm_trigger is None:
            self._mark_targets()
            super().optimize_parameters(current_iter)
            return
        self.wm_iter = current_iter
        super().optimize_parameters(current_iter)
        if self.wm_trigger_loss is not None:
            self.log_dict["l_trigger"] = self.wm_trigger_loss


@functools.cache
def watermarked_model(base: type) -> type:
    """The watermarking subclass of a BasicSR model class, registered as ``Watermarked<Base>``."""
    name = f"Watermarked{base.__name__}"
    cls = type(name, (WatermarkTraining, base), {"__doc__": f"{base.__name__} trained with the watermark flag."})
    if name not in MODEL_REGISTRY:
        MODEL_REGISTRY.register(cls)
    return cls


def build_watermarked_model(opt: dict):
    """BasicSR's ``build_model``, with the flag honoured when ``opt`` has a ``watermark`` section."""
    from basicsr.models import build_model

    if not opt.get("watermark"):
        return build_model(opt)
    try:
        base = MODEL_REGISTRY.get(opt["model_type"])
    except KeyError:
        raise ConfigError(f"model_type: unknown BasicSR model {opt['model_type']!r}") from None
    model = watermarked_model(base)(opt)
    flag = parse_flag(opt["watermark"])
    get_root_logger().info(f"Model [{type(model).__name__}] is created (watermark: {flag.summary()}).")
    return model
