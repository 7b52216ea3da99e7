"""``wm demo``: the main job end to end on the bundled samples, with the table of what was measured."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click

from ..options import device_option, json_option


@click.command("demo", help="Make a fresh key, mark the bundled sample images and protect the bundled model; verify "
                            "marked and original images, protected and original model.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Keep the key and images in this new folder.")
@device_option
@json_option
def command(out, device, as_json) -> None:
    import numpy as np

    from wm_plugin.api import embed, verify_files
    from wm_plugin.errors import OutputExistsError
    from wm_plugin.io import list_images, read_image, sample_images_dir, write_image
    from wm_plugin.keys import generate_key, save_key
    from wm_plugin.metrics import picture_psnr

    from ..options import open_codec

    started = time.perf_counter()
    samples = list_images([sample_images_dir()])
    if out is not None and Path(out).exists() and any(Path(out).iterdir()):
        raise OutputExistsError(f"{out} exists and is not empty; give a new folder to --out")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(out) if out else Path(tmp)
        key = generate_key(64)
        save_key(key, root / "owner.key")
        codec = open_codec(None, device)
        rows = []
        for src in samples:
            pic = read_image(src)
            marked = embed(pic, key, codec=codec)
            write_image(root / "original" / src.name, pic)
            write_image(root / "marked" / src.name, marked)
            rows.append({"image": src.name, "size": f"{pic.size[1]}x{pic.size[0]}", "psnr": picture_psnr(pic, marked)})
        on_marked = verify_files(list_images([root / "marked"]), key, codec=codec, progress=False)
        on_original = verify_files(list_images([root / "original"]), key, codec=codec, progress=False)
        for row, m, o in zip(rows, on_marked.images, on_original.images):
            row.update(marked_matches=m.matches, marked_p=m.p_value, original_matches=o.matches, original_p=o.p_value)
        model = _protect_bundled_model(root, key, device)
    ok = on_marked.detected and not on_original.detected and (model is None or model["check"].ok)
    result = {
        "ok": ok, "key_fingerprint": key.fingerprint, "seconds": round(time.perf_counter() - started, 1),
        "marked": on_marked.to_dict(), "original": on_original.to_dict(), "images": rows,
        "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
        "model": None if model is None else {"framework": model["framework"], **model["check"].to_dict()},
    }
    if as_json:
        click.echo(json.dumps(result))
    else:
        k = on_marked.bits
        click.echo(f"key {key.fingerprint} ({k} bits); false-positive target {on_marked.fpr_target:g}\n")
        click.echo(f"{'image':<14}{'size':>10}{'PSNR dB':>9}   {'marked: bits':>13}{'p-value':>10}   "
                   f"{'original: bits':>15}{'p-value':>10}")
        for r in rows:
            click.echo(f"{r['image']:<14}{r['size']:>10}{r['psnr']:>9.1f}   "
                       f"{r['marked_matches']:>10}/{k}{r['marked_p']:>10.2g}   "
                       f"{r['original_matches']:>12}/{k}{r['original_p']:>10.2g}")
        for label, v in (("marked set", on_marked), ("original set", on_original)):
            word = "DETECTED" if v.detected else "not detected"
            click.echo(f"\n{label:<13} {word:<13} p = {v.p_value:.3g}  ({v.matches}/{k} voted bits match)", nl=False)
        if model is not None:
            c = model["check"]
            click.echo(f"\n\nA {model['framework']} model (bundled, {model['name']}) protected with "
                       "`wm protect --mode barrier`:")
            click.echo(f"{'input':<14}{'PSNR dB vs original':>21}   {'protected: bits':>16}{'p-value':>10}   "
                       f"{'original: bits':>15}{'p-value':>10}")
            for p, m, o in zip(c.psnr_vs_original, c.protected.images, c.original.images):
                click.echo(f"{m.name:<14}{p:>21.1f}   {m.matches:>13}/{k}{m.p_value:>10.2g}   "
                           f"{o.matches:>12}/{k}{o.p_value:>10.2g}")
            for label, v in (("protected model", c.protected), ("original model", c.original)):
                word = "DETECTED" if v.detected else "not detected"
                click.echo(f"\n{label:<16} {word:<13} p = {v.p_value:.3g}  ({v.matches}/{k} voted bits match)",
                           nl=False)
        what = "marked images detected, originals not" + ("; protected model detected, original not" if model else "")
        click.echo(f"\n\n{'PASS' if ok else 'FAIL'}: {what} ({result['seconds']}s){'; files in ' + out if out else ''}")
    if not ok:
        raise click.exceptions.Exit(1)


def _protect_bundled_model(root: Path, key, device: str) -> dict | None:
    """Protect the small model an installed adapter bundles for the demo, and check it; None if none does."""
    from wm_plugin.adapters import list_adapters, load_adapter
    from wm_plugin.codec import WatermarkCodec
    from wm_plugin.errors import AdapterError
    from wm_plugin.probe import adapter_probes
    from wm_plugin.protect import check_protection, protect_barrier

    for info in list_adapters():
        try:
            adapter = load_adapter(info.name)
        except AdapterError:
            continue  # a broken third-party adapter does not stop the demo; `wm adapters --check` reports it
        if not hasattr(adapter, "demo_model"):
            continue
        checkpoint, config = adapter.demo_model()
        original, protected, _ = protect_barrier(adapter, checkpoint, key, str(root / "model" / Path(checkpoint).name),
                                                 config=config, device=device)
        check = check_protection(adapter, original, protected, adapter_probes(adapter, config), key,
                                 codec=WatermarkCodec.from_pretrained(device=device))
        return {"framework": info.name, "name": Path(checkpoint).stem, "check": check}
    return None
