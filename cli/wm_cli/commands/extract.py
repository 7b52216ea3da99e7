"""``wm extract``: read the watermark of image files and compare it with a key."""

from __future__ import annotations

import json

import click

from ..options import device_option, json_option, key_option, open_codec, weights_option


@click.command("extract", help="Read the watermark bits of images and score each against the key.")
@key_option
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@device_option
@weights_option
@json_option
def command(key_path, inputs, device, weights, as_json) -> None:
    import numpy as np

    from wm_plugin.api import extract_files
    from wm_plugin.io import list_images
    from wm_plugin.keys import load_key
    from wm_plugin.verify import score_image

    key = load_key(key_path)
    files = list_images(inputs)
    codec = open_codec(weights, device, key=key)
    logits = extract_files(files, codec=codec, progress=not as_json)
    carried = key.carried_bits()
    stream = np.bitwise_xor(carried, np.asarray(key.message, np.uint8))  # the seed's keystream
    rows = []
    for path, lg in zip(files, logits):
        s = score_image(str(path), lg, carried)
        message = np.bitwise_xor((lg > 0).astype(np.uint8), stream)
        rows.append({**s.to_dict(), "message": np.packbits(message).tobytes().hex()})
    if as_json:
        click.echo(json.dumps({"key_fingerprint": key.fingerprint, "images": rows}))
        return
    for r in rows:
        click.echo(f"{r['name']}: message {r['message']}  {r['matches']}/{r['bits']} bits match  p={r['p_value']:.3g}")
