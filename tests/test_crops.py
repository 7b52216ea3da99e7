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


def test_random_crops_draw_8_bit_images_as_the_floats_they_stand_for():
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)]
    as_read = [x.astype(np.float32) / 255 for x in pixels]  # what read_images gives for the same files
    compact, floats = RandomCrops(pixels, 32, 6, seed=3), RandomCrops(as_read, 32, 6, seed=3)
    assert compact.images[0].dtype == torch.uint8  # held at a quarter of the memory
    for _ in range(3):
        batch = compact.next()
        assert batch.dtype == torch.float32 and torch.equal(batch, floats.next())
