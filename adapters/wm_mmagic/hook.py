"""Training with the flag: ``watermark = dict(key=..., mode='absorb')`` in an MMagic config.

``WatermarkHook`` (MMagic's ``HOOKS`` registry) changes two things in the training run and nothing else
(data, validation, logging, checkpoints, resume and distributed training stay MMEngine's own):

* before each iteration the targets (``gt_img`` of each data sample) are marked by the frozen embedder,
  so the generator learns to emit marked images;
* the model's ``pixel_loss`` gains an extractor term: the frozen extractor must read the owner's bits in
  the generator's output (weight ``watermark['extractor_weight']``).

With ``mode='trigger'`` the generator's optimiser, just before it steps, adds the gradient of the trigger term
(``wm_plugin.trigger.TriggerObjective.for_flag``: its weight falls to ``watermark['trigger_weight']``): the
generator's answer to half the iteration's inputs with the key's trigger must differ from its answer to the same
inputs plain by the owner's response. The inputs are the ones the generator was just given (a forward hook keeps
them); the trigger is added in pixel space (``PixelSpace``).
The extra pass goes past MMEngine's distributed wrapper, so under a distributed launch the hook averages the
term's gradient over the processes itself, as the wrapper did the task's: the replicas stay equal.

Validation compares outputs with the unmarked targets, so the PSNR MMagic logs is what a user of the
model sees. A config needs no ``custom_hooks`` entry: importing ``wm_mmagic`` (``custom_imports``) makes
``Runner.from_cfg`` add the hook whenever the config has a ``watermark`` block (``enable_flag``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from mmagic.registry import HOOKS
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from wm_plugin.absorb import ExtractorLoss, TargetMarker
from wm_plugin.errors import ConfigError
from wm_plugin.flag import check_training_mode, parse_flag
from wm_plugin.trigger import TriggerObjective

from .space import PixelSpace

__all__ = ["WatermarkHook", "enable_flag"]


@HOOKS.register_module()
class WatermarkHook(Hook):
    """Train the owner's mark into the generator, absorbed or as a trigger (see the module docstring).
    Arguments: the flag's."""

    priority = "VERY_HIGH"  # mark the targets before any other hook looks at the batch

    def __init__(self, **watermark):
        self.flag = parse_flag(watermark, where="watermark")
        check_training_mode(self.flag)
        self.marker: TargetMarker | None = None
        self.space: PixelSpace | None = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.space = PixelSpace.from_config(runner.cfg)
        if self.flag.mode == "trigger":
            self._start_trigger(runner, model)
            return
        if not isinstance(getattr(model, "pixel_loss", None), torch.nn.Module):
            raise ConfigError(f"watermark: absorbing the mark trains models with a pixel_loss (BaseEditModel and its "
                              f"subclasses); {type(model).__name__} has none")
        device = next(model.parameters()).device
        self.marker = TargetMarker(self.flag).to(device)
        if not isinstance(model.pixel_loss, ExtractorLoss):
            model.pixel_loss = ExtractorLoss(model.pixel_loss, self.flag, to_pixels=self.space.to_pixels).to(device)
        print_log(f"watermark: {self.flag.summary()}", logger="current")

    def _start_trigger(self, runner, model) -> None:
        """Hook the generator (to keep its training inputs) and its optimiser (to add the trigger term's gradient)."""
        generator = getattr(model, "generator", None)
        optimizer = getattr(runner.optim_wrapper, "optimizer", None)
        if not isinstance(generator, torch.nn.Module) or optimizer is None:
            raise ConfigError(f"watermark.mode: trigger trains models with one generator and one optimiser "
                              f"(BaseEditModel and its subclasses); {type(model).__name__} is not one")
        self.generator, self.inputs, self.iter = generator, None, 0
        self.params = [p for p in generator.parameters() if p.requires_grad]
        self.objective = TriggerObjective.for_flag(self.flag, runner.max_iters)
        generator.register_forward_pre_hook(self._keep_inputs)
        optimizer.register_step_pre_hook(self._add_trigger_gradient)
        print_log(f"watermark: {self.flag.summary()}", logger="current")

    def _keep_inputs(self, generator, args) -> None:
        if generator.training and torch.is_grad_enabled():
            self.inputs = args[0].detach()

    def _add_trigger_gradient(self, optimizer, args, kwargs) -> None:
        """Before the generator's optimiser steps: the trigger term's gradient, added to the task's."""
        if self.inputs is None:
            return
        inputs = self.inputs
        queries, envelope = self.objective.queries(self.space.to_pixels(inputs).clamp(0, 1), self.iter)
        answers = self.space.to_pixels(self.generator(self.space.from_pixels(queries)))
        self.inputs = None  # what the hook kept of the pass just made (ours), and of the iteration: spent
        # autograd.grad, not backward: the gradient must not reach the distributed wrapper's hooks, which expect
        # one backward per wrapped forward; it is averaged over the processes here instead (a no-op in one).
        grads = torch.autograd.grad(self.objective.pair_loss(answers, envelope), self.params, allow_unused=True)
        flat = torch.cat([torch.zeros(p.numel(), device=p.device) if g is None else g.flatten()
                          for p, g in zip(self.params, grads)])
        all_reduce(flat, op="mean")
        for p, g in zip(self.params, flat.split([p.numel() for p in self.params])):
            g = g.view_as(p)
            p.grad = g if p.grad is None else p.grad.add_(g)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.flag.mode == "trigger":
            self.iter = runner.iter
            return
        samples = (data_batch or {}).get("data_samples") or []
        targets = [s.gt_img for s in samples if "gt_img" in s]
        if len(targets) != len(samples) or not samples:
            raise ConfigError("watermark: absorb needs a gt_img target in every training sample")
        device = self.marker.bits.device
        gt = torch.stack([torch.as_tensor(t) for t in targets]).to(device, torch.float32) / 255
        pixels = self.marker(gt.flip(1) if self.space.bgr else gt)
        marked = (pixels.flip(1) if self.space.bgr else pixels) * 255
        for sample, target, image in zip(samples, targets, marked):
            sample.gt_img = image.to(torch.as_tensor(target).device)


def enable_flag() -> None:
    """Make ``Runner.from_cfg`` add ``WatermarkHook`` to configs with a ``watermark`` block (idempotent)."""
    original = Runner.from_cfg.__func__
    if getattr(original, "_wm_flag", False):
        return

    @functools.wraps(original)
    def from_cfg(cls, cfg):
        if cfg.get("watermark"):
            parse_flag(cfg.watermark)  # a block that is not a mapping fails here, with the field named
            cfg = cfg.copy()
            hooks = [h for h in cfg.get("custom_hooks") or []  # entries may be Hook objects as well as dicts
                     if not (isinstance(h, Mapping) and h.get("type") == "WatermarkHook")]
            cfg.custom_hooks = [*hooks, {"type": "WatermarkHook", **cfg.watermark}]
        return original(cls, cfg)

    from_cfg._wm_flag = True
    Runner.from_cfg = classmethod(from_cfg)
