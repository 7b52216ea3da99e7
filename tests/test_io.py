import numpy as np
import pytest
from PIL import Image

from wm_plugin.errors import ImageError, OutputExistsError
from wm_plugin.io import Picture, list_images, output_paths, read_image, read_images, read_images_compact, write_image


def _rng_pixels(shape, dtype, seed=0):
    hi = 65535 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, hi + 1, shape).astype(dtype)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels, alpha", [(1, False), (3, False), (3, True), (1, True)])
def test_lossless_roundtrip_keeps_depth_channels_and_alpha(tmp_path, suffix, dtype, channels, alpha):
    pic = Picture(_rng_pixels((20, 30, channels), dtype), _rng_pixels((20, 30), dtype, 1) if alpha else None)
    write_image(tmp_path / f"x{suffix}", pic)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.pixels.dtype == dtype and back.pixels.shape == (20, 30, channels)
    assert np.array_equal(back.pixels, pic.pixels)
    assert (back.alpha is None) == (not alpha)
    if alpha:
        assert np.array_equal(back.alpha, pic.alpha)


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_lossy_formats_roundtrip_closely(tmp_path, suffix):
    rgb = np.clip(np.linspace(0, 1, 40 * 60 * 3).reshape(40, 60, 3), 0, 1)
    pic = Picture(np.zeros((40, 60, 3), np.uint8)).with_rgb(rgb)
    write_image(tmp_path / f"x{suffix}", pic)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.pixels.shape == (40, 60, 3)
    assert np.abs(back.pixels.astype(int) - pic.pixels).mean() < 3


def test_colour_profile_and_exif_are_kept(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "wm-test-camera"
    Image.fromarray(_rng_pixels((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg", icc_profile=icc, exif=exif)
    pic = read_image(tmp_path / "a.jpg")
    write_image(tmp_path / "b.jpg", pic)
    with Image.open(tmp_path / "b.jpg") as im:
        assert im.info["icc_profile"] == icc and im.getexif()[0x010F] == "wm-test-camera"


def test_float_view_and_write_back():
    grey = Picture(np.array([[[0], [65535]]], np.uint16))
    assert grey.rgb_float().shape == (1, 2, 3) and grey.rgb_float()[0, 1].tolist() == [1.0, 1.0, 1.0]
    back = grey.with_rgb(np.full((1, 2, 3), 0.5))
    assert back.pixels.dtype == np.uint16 and back.pixels.shape == (1, 2, 1) and back.pixels[0, 0, 0] == 32768


def test_palette_and_cmyk_images_are_read_as_colour(tmp_path):
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 200, 30, 10])
    pal.save(tmp_path / "p.png")
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    p = read_image(tmp_path / "p.png")
    assert p.pixels.shape == (8, 8, 3) and p.pixels[0, 0].tolist() == [200, 30, 10]
    c = read_image(tmp_path / "c.jpg")
    assert c.pixels.shape == (8, 8, 3) and c.source_mode == "CMYK"


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty file"), (b"hello, not an image", "not a readable image"), (None, "truncated")],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content is None:
        Image.fromarray(_rng_pixels((64, 64, 3), np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:200])
        message = "not a readable image"
    else:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        read_image(path)


def test_listing_and_output_layout(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ["a.png", "sub/b.jpg", "notes.txt"]:
        (tmp_path / "in" / name).write_bytes(b"x")
    files = list_images([tmp_path / "in"])
    assert [f.name for f in files] == ["a.png", "b.jpg"]
    outs = output_paths([tmp_path / "in"], files, tmp_path / "out")
    assert outs == [tmp_path / "out" / "a.png", tmp_path / "out" / "sub" / "b.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="no images"):
        list_images([tmp_path / "empty"])
    with pytest.raises(ImageError, match="no such file or folder"):
        list_images([tmp_path / "missing"])


def test_read_images_gives_rgb_floats_of_every_image_in_a_folder(tmp_path):
    grey = np.full((6, 5), 255, np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(tmp_path / "b.png")  # RGBA
    a, b = read_images([tmp_path])
    assert a.shape == (6, 5, 3) and a.dtype == np.float32 and a.min() == 1.0
    assert b.shape == (4, 4, 3) and b.max() == 0.0


def test_read_images_compact_keeps_8_bit_images_as_uint8_and_deeper_ones_as_floats(tmp_path):
    write_image(tmp_path / "a.png", Picture(_rng_pixels((6, 5, 1), np.uint8)))
    write_image(tmp_path / "b.png", Picture(_rng_pixels((4, 4, 3), np.uint16)))
    (a, b), (a_float, b_float) = read_images_compact([tmp_path]), read_images([tmp_path])
    assert a.shape == (6, 5, 3) and a.dtype == np.uint8
    assert np.array_equal(a.astype(np.float32) / 255, a_float)
    assert b.dtype == np.float32 and np.array_equal(b, b_float)


def test_writes_are_atomic_and_refuse_bad_targets(tmp_path):
    pic = Picture(_rng_pixels((4, 4, 3), np.uint8))
    with pytest.raises(ImageError, match="16-bit"):
        write_image(tmp_path / "x.jpg", Picture(_rng_pixels((4, 4, 3), np.uint16)))
    with pytest.raises(ImageError, match="alpha"):
        write_image(tmp_path / "x.jpg", Picture(pic.pixels, pic.pixels[..., 0]))
    with pytest.raises(ImageError, match="unsupported output suffix"):
        write_image(tmp_path / "x.gifx", pic)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import wm_plugin.io as io

    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(io, "MAX_PIXELS", 5000)
    with pytest.raises(ImageError, match="pixel limit"):
        read_image(tmp_path / "big.png")


def test_huge_header_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="20000×20000 pixels is over"):
        read_image(tmp_path / "bomb.png")


def test_check_writable():
    from wm_plugin.fileio import check_writable

    check_writable(__file__, force=True)
    with pytest.raises(OutputExistsError):
        check_writable(__file__, force=False)


def test_picture_psnr_is_exact_in_strips():
    import numpy as np

    from wm_plugin.io import Picture
    from wm_plugin.metrics import picture_psnr

    rng = np.random.default_rng(3)
    a = rng.integers(0, 65536, (37, 23, 3), dtype=np.uint16)
    b = np.clip(a.astype(np.int64) + rng.integers(-900, 901, a.shape), 0, 65535).astype(np.uint16)
    expected = 10 * np.log10(1 / np.mean(((a.astype(np.float64) - b) / 65535) ** 2))
    assert picture_psnr(Picture(a), Picture(b), rows=5) == pytest.approx(expected, abs=1e-9)
    assert picture_psnr(Picture(a), Picture(a.copy())) == float("inf")
