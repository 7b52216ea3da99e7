"""``GaussianNoiseDataset``: clean images from a folder, noisy copies made on the fly (BasicSR has none).

For denoising options files::

    type: GaussianNoiseDataset
    dataroot_gt: datasets/DIV2K/DIV2K_train_HR_sub
    sigma: 25            # noise standard deviation on the 0-255 scale
    gt_size: 128         # training crops (training phase only)
    use_hflip: true
    use_rot: true

Validation and test noise is seeded by the image's index, so every run scores the same noisy inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from basicsr.data.transforms import augment
from basicsr.utils import FileClient, imfrombytes, img2tensor, scandir
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data


@DATASET_REGISTRY.register()
class GaussianNoiseDataset(data.Dataset):
    """Pairs ``{'lq': gt + N(0, sigma), 'gt': gt}`` from the images under ``opt['dataroot_gt']``."""

    def __init__(self, opt: dict):
        super().__init__()
        self.opt = opt
        self.sigma = float(opt.get("sigma", 25)) / 255
        self.paths = sorted(str(p) for p in scandir(opt["dataroot_gt"], full_path=True))
        self.client = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        if self.client is None:
            io = dict(self.opt.get("io_backend", {"type": "disk"}))
            self.client = FileClient(io.pop("type"), **io)
        gt = imfrombytes(self.client.get(self.paths[index], "gt"), float32=True)
        training = self.opt.get("phase") == "train"
        if training:
            size = self.opt["gt_size"]
            y = np.random.randint(0, max(gt.shape[0] - size, 0) + 1)
            x = np.random.randint(0, max(gt.shape[1] - size, 0) + 1)
            gt = augment(gt[y : y + size, x : x + size], self.opt.get("use_hflip", False),
                         self.opt.get("use_rot", False))
        gt = img2tensor(gt, bgr2rgb=True, float32=True)
        rng = torch.Generator().manual_seed(index) if not training else None
        noise = torch.randn(gt.shape, generator=rng) * self.sigma
        return {"lq": gt + noise, "gt": gt, "lq_path": self.paths[index], "gt_path": self.paths[index]}
