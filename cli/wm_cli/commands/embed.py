"""``wm embed``: mark image files with an owner's watermark."""

from __future__ import annotations

import json
import time

import click

from ..options import device_option, json_option, key_option, open_codec, weights_option


@click.command("embed", help="Mark images (files or folders) with the owner's watermark; write them to -o DIR.")
@key_option
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--psnr", type=float, default=None,
              help="Strength: the PSNR of the mark in each image, dB (default 43.5; higher is fainter).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG/WebP output quality.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@device_option
@weights_option
@json_option
def command(key_path, inputs, output, psnr, quality, force, device, weights, as_json) -> None:
    import numpy as np
    from tqdm import tqdm

    from wm_plugin.api import embed
    from wm_plugin.errors import OutputExistsError
    from wm_plugin.fileio import check_writable
    from wm_plugin.io import list_images, output_paths, read_image, write_image
    from wm_plugin.keys import load_key
    from wm_plugin.metrics import picture_psnr

    key = load_key(key_path)
    files = list_images(inputs)
    outs = output_paths(inputs, files, output)
    for src, dst in zip(files, outs):
        if dst.resolve() == src.resolve():
            raise OutputExistsError(f"{dst} would overwrite its own input; choose another -o folder")
        check_writable(dst, force=force)
    codec = open_codec(weights, device, psnr, key=key)
    records, started = [], time.perf_counter()
    for src, dst in tqdm(list(zip(files, outs)), desc="embedding", unit="img", disable=len(files) < 2 or as_json):
        pic = read_image(src)
        marked = embed(pic, key, codec=codec)
        write_image(dst, marked, quality=quality)
        records.append({"input": str(src), "output": str(dst), "psnr": picture_psnr(pic, marked)})
    seconds = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({"key_fingerprint": key.fingerprint, "n_images": len(records), "seconds": seconds,
                               "images": records}))
    else:
        mean = float(np.mean([r["psnr"] for r in records]))
        click.echo(f"marked {len(records)} image(s) into {output} in {seconds:.1f}s (mean PSNR {mean:.1f} dB, "
                   f"key {key.fingerprint})")
