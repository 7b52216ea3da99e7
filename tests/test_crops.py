"""RandomCrops: seeded draws, small images padded, large ones held without a copy."""

import numpy as np
import torch

from wm_plugin.crops import RandomCrops


def _images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((40, 56, 3), dtype=np.float32), rng.random((20, 24, 3), dtype=np.float32)]


def test_random_crops_draw_the_same_batches_from_the_same_seed():
    a, b, c = (RandomCrops(_images(), 32, 4, seed) for seed in (0, 0, 1))
    first, again, other = a.next(), b.next(), c.next()
    assert first.shape == (4, 3, 32, 32)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_random_crops_pad_small_images_and_share_the_memory_of_large_ones():
    images = _images()
    crops = RandomCrops(images, 32, 4)
    large, small = crops.images
    assert large.data_ptr() == torch.from_numpy(images[0]).data_ptr()  # a view: a folder of photos is held once
    assert small.shape == (3, 32, 32)
    assert torch.equal(small[:, :20, :24], torch.from_numpy(images[1]).permute(2, 0, 1))
    assert torch.equal(small[:, 31, :24], small[:, 19, :24])  # the edge row repeated
