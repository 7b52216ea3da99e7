"""Images in and out: PNG, JPEG, WebP, TIFF, BMP; grey, RGB, with or without alpha; 8 or 16 bits.

Pillow reads and writes the 8-bit images; it cannot represent 16-bit colour, so 16-bit PNGs go through
pypng and TIFFs through tifffile. An image is kept as it came (bit depth, channels, alpha) and only
its colour channels are handed to the watermark, as float RGB in [0, 1].
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError
from .fileio import atomic_path

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "Picture", "read_image", "write_image", "list_images", "read_images",
           "read_images_compact", "output_paths", "sample_images_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
# Beyond this an image is refused as a likely decompression bomb: Pillow's own hard limit (~179 Mpx,
# 13K × 13K), applied to every reader, so an 8K frame (33 Mpx) passes and a 20000 × 20000 header does not.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
            ".bmp": "BMP"}


@dataclasses.dataclass(frozen=True)
class Picture:
    """An image as read from disk.

    Attributes:
        pixels: H×W×C colour samples, C = 1 (grey) or 3 (RGB), dtype uint8 or uint16.
        alpha: H×W alpha samples of the same dtype, or None.
        source_mode: what the file held (Pillow's mode name, e.g. ``RGBA``, ``I;16``, ``CMYK``).
        icc_profile: the embedded colour profile, written back where the format can hold it.
        exif: the EXIF block, written back where the format can hold it.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    source_mode: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None

    @property
    def max_value(self) -> int:
        return 65535 if self.pixels.dtype == np.uint16 else 255

    @property
    def is_grey(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]

    def rgb_float(self) -> np.ndarray:
        """The colour channels as H×W×3 float32 in [0, 1] (grey repeated three times)."""
        rgb = self.pixels.astype(np.float32) / self.max_value
        return np.repeat(rgb, 3, axis=2) if self.is_grey else rgb

    def rgb_compact(self) -> np.ndarray:
        """The colour channels of an 8-bit image as H×W×3 uint8 (grey repeated three times), a quarter of
        ``rgb_float``'s memory; of a deeper one, ``rgb_float``."""
        if self.pixels.dtype != np.uint8:
            return self.rgb_float()
        return np.repeat(self.pixels, 3, axis=2) if self.is_grey else self.pixels

    def with_rgb(self, rgb: np.ndarray) -> "Picture":
        """A copy whose colour channels are ``rgb`` (H×W×3 float in [0, 1]); depth, greyness and alpha kept."""
        if self.is_grey:
            rgb = rgb.mean(axis=2, keepdims=True)
        q = np.clip(np.rint(rgb * self.max_value), 0, self.max_value).astype(self.pixels.dtype)
        return dataclasses.replace(self, pixels=q)


def _check_pixels(path: Path, width: int, height: int) -> None:
    """Refuse an image whose header announces more than ``MAX_PIXELS``, before anything is decoded."""
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: {width}×{height} pixels is over the {MAX_PIXELS}-pixel limit "
                         "(decompression-bomb guard)")


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk, or None if the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[24], head[25]


def _read_png16(path: Path) -> Picture:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
    colour, alpha = (arr[..., :-1], arr[..., -1]) if info["alpha"] else (arr, None)
    mode = ("LA" if planes == 2 else "L" if planes == 1 else "RGBA" if info["alpha"] else "RGB") + ";16"
    return Picture(colour.copy(), None if alpha is None else alpha.copy(), mode)


def _read_tiff(path: Path) -> Picture:
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        shape = tif.pages[0].shape
        _check_pixels(path, shape[1] if len(shape) > 1 else 1, shape[0])
        arr = tif.asarray()
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: unsupported TIFF layout {arr.shape} {arr.dtype}; save it as 8/16-bit grey or RGB(A)")
    alpha = arr[..., -1].copy() if arr.shape[2] in (2, 4) else None
    colour = arr[..., : 3 if arr.shape[2] >= 3 else 1]
    return Picture(np.ascontiguousarray(colour), alpha, f"TIFF;{arr.shape[2]}x{arr.dtype.itemsize * 8}")


def _read_pillow(path: Path) -> Picture:
    with warnings.catch_warnings():
        # Our own limit replaces Pillow's (89 Mpx warning, 179 Mpx error): 8K frames must pass.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            _check_pixels(path, im.width, im.height)
            mode = im.mode
            im.load()
            # A CMYK file's profile describes CMYK, not the RGB we write back, so it is dropped.
            meta = {"icc_profile": im.info.get("icc_profile") if mode != "CMYK" else None, "exif": im.info.get("exif")}
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint16 if mode != "I" else np.int64)
                return Picture(np.clip(arr, 0, 65535).astype(np.uint16)[..., None], None, mode, **meta)
            if mode in ("1", "L", "LA") or (mode in ("P", "PA") and _is_grey_palette(im)):
                conv = im.convert("LA")
                arr = np.asarray(conv)
                has_alpha = mode in ("LA", "PA") or "transparency" in im.info
                return Picture(arr[..., :1].copy(), arr[..., 1].copy() if has_alpha else None, mode, **meta)
            has_alpha = mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in im.info
            arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
            return Picture(arr[..., :3].copy(), arr[..., 3].copy() if has_alpha else None, mode, **meta)


def _is_grey_palette(im: Image.Image) -> bool:
    pal = np.asarray(im.convert("RGB"))
    return bool((pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all())


def read_image(path: str | os.PathLike) -> Picture:
    """Read one image file.

    Raises:
        ImageError: missing, empty, truncated or not an image, or larger than ``MAX_PIXELS``.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        header = _png_header(path)
        if header:
            _check_pixels(path, header[0], header[1])
        if header and header[2] == 16:
            return _read_png16(path)
        if path.suffix.lower() in (".tif", ".tiff"):
            return _read_tiff(path)
        return _read_pillow(path)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: refused as a possible decompression bomb (over Pillow's hard pixel limit)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a readable image (unknown format)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageError(f"{path}: not a readable image ({why})") from None


def _write_png16(path: str, pic: Picture) -> None:
    import png

    arr = pic.pixels if pic.alpha is None else np.concatenate([pic.pixels, pic.alpha[..., None]], axis=2)
    h, w, c = arr.shape
    writer = png.Writer(w, h, greyscale=c in (1, 2), alpha=pic.alpha is not None, bitdepth=16)
    with open(path, "wb") as f:
        writer.write(f, arr.reshape(h, w * c))


def write_image(path: str | os.PathLike, pic: Picture, *, quality: int = 95) -> None:
    """Write ``pic`` to ``path`` (atomically), in the format its suffix names, keeping depth and alpha.

    Raises:
        ImageError: the suffix names no supported format, or the format cannot hold this image.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unsupported output suffix; use one of {', '.join(IMAGE_SUFFIXES)}")
    sixteen = pic.pixels.dtype == np.uint16
    if sixteen and fmt in ("JPEG", "WEBP", "BMP"):
        raise ImageError(f"{path}: {fmt} cannot hold a 16-bit image; write .png or .tif")
    with atomic_path(path) as tmp:
        if fmt == "TIFF":
            import tifffile

            arr = pic.pixels if pic.alpha is None else np.concatenate([pic.pixels, pic.alpha[..., None]], axis=2)
            extra = {"extrasamples": ["unassalpha"]} if pic.alpha is not None else {}
            tifffile.imwrite(tmp, arr[..., 0] if arr.shape[2] == 1 else arr,
                             photometric="minisblack" if pic.is_grey else "rgb", **extra)
        elif sixteen:
            _write_png16(tmp, pic)
        else:
            arr = pic.pixels if pic.alpha is None else np.concatenate([pic.pixels, pic.alpha[..., None]], axis=2)
            im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
            if fmt == "JPEG" and im.mode in ("RGBA", "LA"):
                raise ImageError(f"{path}: JPEG cannot keep the alpha channel; write .png, .webp or .tif")
            opts = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
            if fmt in ("PNG", "JPEG", "WEBP"):
                opts.update({k: v for k, v in (("icc_profile", pic.icc_profile), ("exif", pic.exif)) if v})
            im.save(tmp, format=fmt, **opts)


def list_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Image files named in ``inputs``: files as given, folders searched recursively (sorted).

    Raises:
        ImageError: an input does not exist or is unreadable, or nothing was found.
    """
    inputs = [Path(p) for p in inputs]
    found: list[Path] = []
    for p in inputs:
        if p.is_dir():
            try:
                found += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            except PermissionError:
                raise ImageError(f"{p}: folder cannot be read (permission denied)") from None
            if not os.access(p, os.R_OK | os.X_OK):
                raise ImageError(f"{p}: folder cannot be read (permission denied)")
        elif p.is_file():
            found.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    if not found:
        raise ImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    return found


def read_images(inputs: Iterable[str | os.PathLike]) -> list[np.ndarray]:
    """The images named in ``inputs`` (files, or folders searched as ``list_images`` does), each as H×W×3 float32
    RGB in [0, 1].

    Raises:
        ImageError: as ``list_images`` and ``read_image``.
    """
    return [read_image(p).rgb_float() for p in list_images(inputs)]


def read_images_compact(inputs: Iterable[str | os.PathLike]) -> list[np.ndarray]:
    """``read_images``, but each 8-bit image as H×W×3 uint8 (``Picture.rgb_compact``): a folder of photos to
    train on (``RandomCrops`` turns each crop into floats) held in a quarter of the memory.

    Raises:
        ImageError: as ``list_images`` and ``read_image``.
    """
    return [read_image(p).rgb_compact() for p in list_images(inputs)]


def output_paths(inputs: Sequence[str | os.PathLike], files: Sequence[Path], out_dir: str | os.PathLike) -> list[Path]:
    """Where each of ``files`` goes under ``out_dir``: folder inputs keep their inner layout."""
    out_dir = Path(out_dir)
    roots = [Path(p) for p in inputs if Path(p).is_dir()]
    result = []
    for f in files:
        root = next((r for r in roots if f.is_relative_to(r)), None)
        result.append(out_dir / (f.relative_to(root) if root else f.name))
    return result


def sample_images_dir() -> Path:
    """The folder of sample images shipped with the package (used by ``wm demo``)."""
    return Path(__file__).parent / "samples"
