"""The surrogate attack: a thief without the weights queries the protected model and trains their own.

The thief degrades clean images of the model's task (``wm_plugin.attacks.tasks``), has the protected model
answer them (8-bit, as a served model's answers are), and trains a surrogate network from scratch on
(input, answer) pairs. The surrogates are the seed paper's (Zhang et al., AAAI 2020): a U-Net and a
ResNet with 9 blocks, plus one of BasicSR's, SRVGGNetCompact; the losses L1, L2, SSIM, adversarial
(L1 plus an LSGAN term from a PatchGAN discriminator) and perceptual (L1 plus VGG19 feature distances,
``wm_plugin.attacks.perceptual``; only with VGG weights the user supplies). U-Net and ResNet work at the
output size: a super-resolution surrogate gets its input bicubically enlarged first.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..crops import RandomCrops
from ..errors import ConfigError
from ..metrics import ssim
from ..nets.discriminator import PatchDiscriminator
from ..resume import TrainingState, images_fingerprint, weights_fingerprint
from .tasks import degrade

__all__ = ["SURROGATE_ARCHS", "SURROGATE_LOSSES", "UNet", "ResNet9", "build_surrogate", "fit_surrogate",
           "imitation_loss", "train_surrogate"]

SURROGATE_ARCHS = ("unet", "resnet9", "srvgg")
SURROGATE_LOSSES = ("l1", "l2", "ssim", "adv", "perceptual")


class UNet(nn.Module):
    """A U-Net (three levels, two convolutions each, skip connections) predicting a residual on its input."""

    def __init__(self, width: int = 32, scale: int = 1):
        super().__init__()
        self.scale = scale

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2))

        w = width
        self.enc1, self.enc2, self.enc3 = block(3, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), block(2 * w, w)
        self.out = nn.Conv2d(w, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _enlarge(x, self.scale)
        h, w = x.shape[2:]
        xp = F.pad(x, (0, -w % 4, 0, -h % 4), mode="replicate")
        e1 = self.enc1(xp)
        e2 = self.enc2(F.avg_pool2d(e1, 2))
        e3 = self.enc3(F.avg_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(e3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return (xp + self.out(d1))[:, :, :h, :w]


class ResNet9(nn.Module):
    """The CycleGAN generator: a 7×7 stem, two stride-2 downsamplings, 9 residual blocks, two upsamplings."""

    def __init__(self, width: int = 32, blocks: int = 9, scale: int = 1):
        super().__init__()
        self.scale = scale
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), nn.InstanceNorm2d(w), nn.ReLU(True),
                                   nn.Conv2d(w, 2 * w, 3, 2, 1), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
                                   nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.InstanceNorm2d(4 * w), nn.ReLU(True)]
        layers += [_ResidualBlock(4 * w) for _ in range(blocks)]
        layers += [nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
                   nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(w), nn.ReLU(True),
                   nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _enlarge(x, self.scale)
        h, w = x.shape[2:]
        xp = F.pad(x, (0, -w % 4, 0, -h % 4), mode="replicate")
        return (xp + self.body(xp))[:, :, :h, :w]


class _ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _enlarge(x: torch.Tensor, scale: int) -> torch.Tensor:
    return x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def build_surrogate(arch: str, scale: int = 1) -> nn.Module:
    """A fresh surrogate network (``unet``, ``resnet9`` or ``srvgg``: BasicSR's SRVGGNetCompact, needs basicsr).

    Raises:
        KeyError: an unknown arch.
        ConfigError: ``srvgg`` without BasicSR installed.
    """
    if arch == "unet":
        return UNet(scale=scale)
    if arch == "resnet9":
        return ResNet9(scale=scale)
    if arch == "srvgg":
        try:
            from wm_basicsr.compat import apply as apply_basicsr_compat
        except ImportError:
            raise ConfigError("the srvgg surrogate is BasicSR's: install wm with BasicSR (see the README)") from None
        apply_basicsr_compat()
        from basicsr.archs.srvgg_arch import SRVGGNetCompact

        return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=32, num_conv=16, upscale=scale, act_type="prelu")
    raise KeyError(f"unknown surrogate arch {arch!r}; known: {', '.join(SURROGATE_ARCHS)}")


def train_surrogate(victim: nn.Module, clean: Sequence[np.ndarray], *, arch: str, loss: str, task: str,
                    scale: int = 1, steps: int = 2000, lr: float = 5e-4, crop: int = 96, batch: int = 8,
                    seed: int = 0, perceptual_loss: nn.Module | None = None, progress: bool = True,
                    cosine: bool = True, on_step: Callable[[int, nn.Module], None] | None = None,
                    checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 500) -> nn.Module:
    """A surrogate trained from scratch on the ``victim``'s 8-bit answers to degraded crops of ``clean`` (H×W×3
    floats in [0, 1] or uint8, at least ``crop`` px a side; ``crop`` on the output side, a multiple of ``scale``).
    ``cosine`` and ``on_step`` as in ``fit_surrogate``. ``checkpoint``: a file the training is saved to every
    ``checkpoint_every`` steps and resumed from (``wm_plugin.resume``).

    Raises:
        KeyError: an unknown arch or loss.
        ConfigError: the perceptual loss without ``perceptual_loss`` (``wm_plugin.attacks.perceptual``), or a
            ``checkpoint`` saved by another run.
    """
    device = next(victim.parameters()).device
    crops = RandomCrops(clean, crop, batch, seed)
    victim = victim.eval()
    state = None
    if checkpoint is not None:
        run = {"attack": "surrogate", "arch": arch, "loss": loss, "task": task, "scale": scale, "steps": steps,
               "lr": lr, "crop": crop, "batch": batch, "seed": seed, "cosine": cosine,
               "victim": weights_fingerprint(victim), "clean": images_fingerprint(clean)}
        state = TrainingState(checkpoint, run=run, every=checkpoint_every, generators=[crops.generator])

    def pairs() -> tuple[torch.Tensor, torch.Tensor]:
        inputs = degrade(crops.next(), task, scale=scale, generator=crops.generator).to(device)
        with torch.no_grad():
            answers = (victim(inputs).clamp(0, 1) * 255).round() / 255  # what a served model hands out
        return inputs, answers

    return fit_surrogate(pairs, arch=arch, loss=loss, scale=scale, steps=steps, lr=lr, seed=seed, device=device,
                         perceptual_loss=perceptual_loss, progress=progress, cosine=cosine, on_step=on_step,
                         state=state)


def fit_surrogate(pairs: Callable[[], tuple[torch.Tensor, torch.Tensor]], *, arch: str, loss: str, scale: int = 1,
                  steps: int = 2000, lr: float = 5e-4, seed: int = 0, device: str | torch.device = "cpu",
                  perceptual_loss: nn.Module | None = None, progress: bool = True, cosine: bool = True,
                  on_step: Callable[[int, nn.Module], None] | None = None,
                  state: TrainingState | None = None) -> nn.Module:
    """A fresh ``arch`` surrogate trained for ``steps`` on the batches ``pairs()`` returns: (inputs, targets)
    on ``device``, targets ``scale`` times larger. Adam at ``lr``, decayed on a cosine to 0 unless ``cosine`` is
    off. The ``perceptual`` loss is ``perceptual_loss`` (a ``wm_plugin.attacks.perceptual.PerceptualLoss``: its
    VGG19 weights are the user's). ``on_step(step, net)`` is called, without gradients and with the network in
    eval mode, before each step and after the last (step = ``steps``): to watch the surrogate learn. ``state``
    saves the training as it goes and resumes it from where it was saved (its generators must be those that
    ``pairs`` draws from).

    Raises:
        KeyError: an unknown arch or loss.
        ConfigError: the perceptual loss without ``perceptual_loss``, or a ``state`` saved by another run.
    """
    if loss not in SURROGATE_LOSSES:
        raise KeyError(f"unknown surrogate loss {loss!r}; known: {', '.join(SURROGATE_LOSSES)}")
    if loss == "perceptual" and perceptual_loss is None:
        raise ConfigError("the perceptual surrogate loss needs VGG19 weights (--vgg-weights FILE, torchvision's "
                          "vgg19 state dict); nothing is downloaded")
    perceptual = perceptual_loss.to(device) if loss == "perceptual" else None
    torch.manual_seed(seed)
    net = build_surrogate(arch, scale).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    disc = PatchDiscriminator().to(device) if loss == "adv" else None
    opt_d = torch.optim.Adam(disc.parameters(), lr, betas=(0.5, 0.99)) if disc else None
    parts = {"net": net, "opt": opt, "sched": sched, "disc": disc, "opt_d": opt_d}
    parts = {name: part for name, part in parts.items() if part is not None}
    start = state.resume(parts) if state else 0
    for step in tqdm(range(start, steps), desc=f"training a {arch} surrogate ({loss})", unit="step", initial=start,
                     total=steps, disable=not progress, leave=False):
        _watch(on_step, step, net)
        inputs, answers = pairs()
        out = net(inputs)
        objective = imitation_loss(loss, out, answers, perceptual)
        if disc is not None:
            objective = objective + 0.01 * ((disc(out.clamp(0, 1)) - 1) ** 2).mean()
        opt.zero_grad()
        objective.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if disc is not None:  # LSGAN: the answers are real, the surrogate's outputs fake
            d_loss = ((disc(answers) - 1) ** 2).mean() + (disc(out.detach().clamp(0, 1)) ** 2).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        if state is not None:
            state.save_if_due(step + 1, parts, last=step + 1 == steps)
    _watch(on_step, steps, net)
    return net.eval()


def imitation_loss(loss: str, out: torch.Tensor, answers: torch.Tensor,
                   perceptual: nn.Module | None = None) -> torch.Tensor:
    """How far a surrogate's outputs ``out`` are from the victim's ``answers`` under ``loss`` (the adversarial
    loss's fidelity term is L1). Nothing is clamped: a clamp would stop the gradient of every pixel out of
    [0, 1], and a surrogate that drifts there (a ResNet-9 under SSIM did, to 11 dB) would never come back."""
    if loss == "l2":
        return F.mse_loss(out, answers)
    if loss == "ssim":
        return 1 - ssim(out, answers).mean()
    if loss == "perceptual":
        return perceptual(out, answers)
    return F.l1_loss(out, answers)


def _watch(on_step: Callable[[int, nn.Module], None] | None, step: int, net: nn.Module) -> None:
    if on_step is not None:
        with torch.no_grad():
            on_step(step, net.eval())
        net.train()
