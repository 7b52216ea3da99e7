"""Write the image folders the benchmarks and the shipped weights use, from images that ship in packages.

Nothing is downloaded: scikit-image, scikit-learn and matplotlib carry a few photographs each. They are
split once, by name, into a training folder (used by ``wm train --data``) and a held-out test folder that
no network ever sees in training. Run: ``python benchmarks/datasets.py OUT_DIR``; ``--probes 100 --scale 2``
also writes ``probes_x2/``: 100 model inputs for the attack benchmarks' success rates, seeded random 256² crops
of the held-out photos shrunk bicubically by the scale (crops of 7 photos: they overlap, and are not 100
independent scenes); ``--scale 1 --noise 25`` writes a denoiser's: ``probes_x1_noise25/``, the same crops with
seeded Gaussian noise of σ = 25 (0-255 scale) added.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image

TRAIN = {
    "skimage": ["astronaut.png", "ihc.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg",
                "camera.png", "brick.png", "grass.png", "gravel.png", "moon.png", "coins.png", "cell.png",
                "clock_motion.png", "text.png", "page.png"],
}
TEST = {
    "skimage": ["chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg"],
    "sklearn": ["china.jpg", "flower.jpg"],
    "matplotlib": ["grace_hopper.jpg"],
}


def _source_dir(package: str) -> Path:
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data"
    if package == "sklearn":
        import sklearn

        return Path(sklearn.__file__).parent / "datasets" / "images"
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def export(split: dict[str, list[str]], out: Path) -> list[Path]:
    """Copy the named images to ``out`` as PNG (RGB or grey, 8 bit); returns the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for package, names in split.items():
        for name in names:
            with Image.open(_source_dir(package) / name) as im:
                im = im.convert("L" if im.mode in ("L", "I;16") else "RGB")
                path = out / f"{package}_{Path(name).stem}.png"
                im.save(path)
                written.append(path)
    return written


def probe_crops(test: list[Path], out: Path, n: int, scale: int, size: int = 256, seed: int = 0,
                noise: float = 0) -> None:
    """``n`` seeded random ``size``² crops of the ``test`` photos, in turn, shrunk by ``scale`` (bicubic) into
    ``out``, with Gaussian noise of standard deviation ``noise`` (0-255 scale) added where it is not 0."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    photos = [Image.open(p).convert("RGB") for p in test]
    for i in range(n):
        im = photos[i % len(photos)]
        x, y = rng.randrange(im.width - size + 1), rng.randrange(im.height - size + 1)
        crop = im.crop((x, y, x + size, y + size)).resize((size // scale,) * 2, Image.Resampling.BICUBIC)
        if noise:
            noisy = np.asarray(crop, np.float64) + noise_rng.normal(0, noise, (crop.height, crop.width, 3))
            crop = Image.fromarray(noisy.round().clip(0, 255).astype(np.uint8))
        crop.save(out / f"probe_{i:03d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--probes", type=int, default=0, help="also write this many probe inputs (probes_x<scale>/)")
    ap.add_argument("--scale", type=int, default=2, help="the probes' shrink factor (the model's scale)")
    ap.add_argument("--noise", type=float, default=0, help="Gaussian noise on the probes, σ on the 0-255 scale")
    args = ap.parse_args()
    probes = args.out / (f"probes_x{args.scale}" + (f"_noise{args.noise:g}" if args.noise else ""))
    for split, names in (("train", TRAIN), ("test", TEST)):
        paths = export(names, args.out / split)
        print(f"{split}: {len(paths)} images in {args.out / split}")
        if split == "test" and args.probes:
            probe_crops(paths, probes, args.probes, args.scale, noise=args.noise)
            print(f"probes: {args.probes} inputs in {probes}")


if __name__ == "__main__":
    main()
