"""``wm eval``: the image-edit attacks on a protected model's outputs (surrogate and fine-tuning attacks: not yet)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..options import (
    arch_option,
    config_option,
    data_option,
    device_option,
    framework_option,
    json_option,
    key_option,
    open_codec,
    resolve_arch,
    weights_option,
)


@click.command("eval", help="Apply common edits (JPEG, resize, crop, noise, blur) to a protected model's outputs "
                            "(--outputs) or to a protected model's answers on probe inputs (--model), and report "
                            "what verification still detects. Writes eval.md and eval.json with -o DIR.")
@key_option
@click.option("--outputs", "outputs", multiple=True, type=click.Path(), help="Folder (or file) of protected outputs; repeatable.")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="A protected checkpoint, run on probe inputs.")
@framework_option
@config_option
@arch_option
@data_option
@click.option("--edits", default=None, metavar="LIST",
              help="Comma-separated edits (default: all): none, jpeg90, jpeg75, jpeg50, resize0.5, resize2, crop50%, "
                   "noise2/255, blur1.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None, help="Write eval.md and eval.json here.")
@click.option("--force", is_flag=True, help="Overwrite eval.md / eval.json.")
@device_option
@weights_option
@json_option
def command(key_path, outputs, model, framework, config, arch, data, edits, output, force, device, weights, as_json) -> None:
    import numpy as np

    from wm_plugin.attacks import list_edits
    from wm_plugin.errors import WatermarkError
    from wm_plugin.evaluate import edits_markdown, evaluate_edits
    from wm_plugin.fileio import atomic_path, check_writable
    from wm_plugin.io import list_images, read_image
    from wm_plugin.keys import load_key
    from wm_plugin.probe import as_picture, run_suspect

    framework, config = resolve_arch(arch, framework, config)
    if bool(outputs) == bool(model):
        raise click.UsageError("give either --outputs (images) or --model (a checkpoint, with --framework or --arch)")
    names = [e.strip() for e in edits.split(",")] if edits else list_edits()
    unknown = [e for e in names if e not in list_edits()]
    if unknown:
        raise WatermarkError(f"--edits: unknown edit {unknown[0]!r}; known: {', '.join(list_edits())}")
    files = [Path(output) / "eval.md", Path(output) / "eval.json"] if output else []
    for path in files:
        check_writable(path, force=force)
    key = load_key(key_path)
    codec = open_codec(weights, device, key=key)
    if model:
        if not framework:
            raise click.UsageError("--model needs --framework (and usually --config) or --arch")
        from wm_plugin.adapters import load_adapter

        inputs, outs = run_suspect(load_adapter(framework), model, config=config, data=data, device=device,
                                   progress=not as_json)
        labels = [n for n, _ in inputs]
        images = [as_picture(o).pixels for o in outs]
    else:
        paths = list_images(outputs)
        labels = [str(p) for p in paths]
        images = [np.rint(read_image(p).rgb_float() * 255).astype(np.uint8) for p in paths]
    results = evaluate_edits(labels, images, key, codec=codec, edits=names)
    table = edits_markdown(results)
    doc = {"key_fingerprint": key.fingerprint, "n_images": len(images), "edits": [r.to_dict() for r in results]}
    for path, text in zip(files, (f"# wm eval: image edits\n\n{len(images)} output(s), key {key.fingerprint}\n\n{table}",
                                  json.dumps(doc, indent=2))):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
    click.echo(json.dumps(doc) if as_json else table.rstrip())
