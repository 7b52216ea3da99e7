"""``wm verify``: test a set of images against an owner's key. Exit 0 detected, 1 not detected, 2 error."""

from __future__ import annotations

import json

import click

from ..options import device_option, json_option, key_option, open_codec, weights_option


def _fpr(ctx, param, value):
    if value is not None and not 0 < value < 1:
        raise click.BadParameter(f"must be between 0 and 1, got {value}", ctx, param)
    return value


@click.command("verify", help="Test whether images carry the owner's watermark. Exit 0: detected, 1: not detected, 2: error.")
@key_option
@click.option("--outputs", "outputs", required=True, multiple=True, type=click.Path(),
              help="Folder (or file) of the suspect's output images; repeatable.")
@click.option("--fpr", type=float, default=None, callback=_fpr, help="False-positive target (default 1e-6).")
@device_option
@weights_option
@json_option
@click.pass_context
def command(ctx, key_path, outputs, fpr, device, weights, as_json) -> None:
    from wm_plugin.api import verify_files
    from wm_plugin.io import list_images
    from wm_plugin.keys import load_key
    from wm_plugin.verify import DEFAULT_FPR

    key = load_key(key_path)
    files = list_images(outputs)
    codec = open_codec(weights, device)
    v = verify_files(files, key, codec=codec, fpr_target=DEFAULT_FPR if fpr is None else fpr, progress=not as_json)
    if as_json:
        click.echo(json.dumps({"key_fingerprint": key.fingerprint, **v.to_dict()}))
    else:
        word = "DETECTED" if v.detected else "NOT DETECTED"
        click.echo(f"{word}: {v.matches}/{v.bits} bits of the voted message match the key "
                   f"(p = {v.p_value:.3g}, target {v.fpr_target:g}); {v.n_images} image(s), mean bit accuracy "
                   f"{v.bit_accuracy:.3f}, {v.n_images_detected} detected on their own")
    ctx.exit(0 if v.detected else 1)
