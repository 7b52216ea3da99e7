"""``wm verify``: test a set of images, or a suspect model's outputs, against an owner's key.

Exit 0 detected, 1 not detected, 2 error.
"""

from __future__ import annotations

import json

import click

from ..options import (
    arch_option,
    config_option,
    data_option,
    device_option,
    framework_option,
    json_option,
    key_option,
    model_query,
    open_codec,
    record_option,
    trigger_height_option,
    trigger_option,
    weights_option,
)


def _fpr(ctx, param, value):
    if value is not None and not 0 < value < 1:
        raise click.BadParameter(f"must be between 0 and 1, got {value}", ctx, param)
    return value


@click.command("verify", help="Test whether a suspect's outputs (--outputs) or a suspect model (--model) carry the "
                              "owner's watermark. Exit 0: detected, 1: not detected, 2: error.")
@key_option
@click.option("--outputs", "outputs", multiple=True, type=click.Path(),
              help="Folder (or file) of the suspect's output images; repeatable.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A suspect checkpoint: run it (with --framework and --config) on probe inputs and test its outputs.")
@framework_option
@config_option
@arch_option
@data_option
@trigger_option
@trigger_height_option
@record_option
@click.option("--fpr", type=float, default=None, callback=_fpr, help="False-positive target (default 1e-6).")
@click.option("--report", type=click.Path(file_okay=False), default=None,
              help="Write an evidence report here: report.html and the images it shows.")
@click.option("--logo-out", type=click.Path(dir_okay=False), default=None,
              help="Write the logo the voted reading shows (PNG; for keys made with `wm keygen --logo`) and report "
                   "its NC with the key's logo.")
@device_option
@weights_option
@json_option
@click.pass_context
def command(ctx, key_path, outputs, model, framework, config, arch, data, trigger, trigger_height, record, fpr,
            report, logo_out, device, weights, as_json) -> None:
    from pathlib import Path

    from wm_plugin.api import verify_files
    from wm_plugin.errors import OutputExistsError
    from wm_plugin.io import list_images, read_image
    from wm_plugin.keys import load_key
    from wm_plugin.verify import DEFAULT_FPR

    if bool(outputs) == bool(model):
        raise click.UsageError("give either --outputs (images) or --model (a checkpoint, with --framework)")
    key = load_key(key_path)
    height_by_default = trigger_height is None and record is None
    query = model_query(model, record, key, framework=framework, config=config, arch=arch, trigger=trigger,
                        trigger_height=trigger_height)
    framework, config, trigger, trigger_height = query.framework, query.config, query.trigger, query.trigger_height
    if report and (Path(report) / "report.html").exists():
        raise OutputExistsError(f"{Path(report) / 'report.html'} exists; choose another --report folder")
    if logo_out and Path(logo_out).exists():
        raise OutputExistsError(f"{logo_out} exists; choose another --logo-out file")
    if logo_out:
        from wm_plugin.logo import logo_side

        logo_side(key.bits)  # a clear error before any work if this key cannot be a logo
    fpr = DEFAULT_FPR if fpr is None else fpr
    if model:
        from wm_plugin.adapters import load_adapter
        from wm_plugin.probe import adapter_probes, as_picture, run_suspect, verify_outputs, verify_triggered

        adapter = load_adapter(framework)
        if trigger:  # the response to the trigger is read from pairs of answers: no codec involved
            net = adapter.load_model(model, config=config, device=device)
            inputs = adapter_probes(adapter, config, data)
            v, outs = verify_triggered(lambda x: adapter.run(net, x), inputs, key,
                                       amplitude=trigger_height / 255, device=device, fpr_target=fpr,
                                       progress=not as_json)
        else:
            inputs, outs = run_suspect(adapter, model, config=config, data=data, device=device, progress=not as_json)
            v = verify_outputs([n for n, _ in inputs], outs, key, codec=open_codec(weights, device, key=key),
                               fpr_target=fpr)
        if report:
            from wm_plugin.report import write_report

            probing = (f", each probe given with and without the key's trigger "
                       f"({trigger_height:g}/255)" if trigger else "")
            write_report(report, v, key, [as_picture(o).pixels for o in outs],
                         inputs=[as_picture(x).pixels for _, x in inputs], command=ctx.obj["argv"], files=[model],
                         subject=f"{framework} model {model}" + (f" ({config})" if config else "") + probing)
    else:
        codec = open_codec(weights, device, key=key)
        files = list_images(outputs)
        v = verify_files(files, key, codec=codec, fpr_target=fpr, progress=not as_json)
        if report:
            from wm_plugin.probe import as_picture
            from wm_plugin.report import write_report

            write_report(report, v, key, [as_picture(read_image(f).rgb_float()).pixels for f in files],
                         subject=f"{len(files)} image file(s) from {', '.join(outputs)}", command=ctx.obj["argv"])
    if logo_out:
        from wm_plugin.io import Picture, write_image
        from wm_plugin.logo import logo_picture, recovered_logo

        write_image(logo_out, Picture(logo_picture(recovered_logo(v.votes, key))[..., None]))
    if as_json:
        logo = {"logo": logo_out} if logo_out else {}
        height = {"trigger_height": trigger_height} if trigger else {}
        click.echo(json.dumps({"key_fingerprint": key.fingerprint, **v.to_dict(), **height, **logo}))
    else:
        word = "DETECTED" if v.detected else "NOT DETECTED"
        click.echo(f"{word}: {v.matches}/{v.bits} bits of the voted message match the key "
                   f"(p = {v.p_value:.3g} by the {v.test} test, target {v.fpr_target:g}); {v.n_images} image(s), "
                   f"mean bit accuracy {v.bit_accuracy:.3f}, {v.n_images_detected} detected on their own")
        if trigger and height_by_default and not v.detected:  # the one setting the suspect's answers cannot tell
            from wm_plugin.trigger import default_trigger_height

            click.echo(f"probed with the default {trigger_height:g}/255 trigger; a model protected with another height "
                       f"(`wm protect --task denoise`: {default_trigger_height('denoise'):g}) answers only to that "
                       "one: give --trigger-height, or --record with the protect run's record", err=True)
        if logo_out:
            click.echo(f"logo read: NC {v.nc:.3f} with the key's logo, {v.n_images_nc} image(s) above 0.95 on their "
                       f"own; written to {logo_out}")
    ctx.exit(0 if v.detected else 1)
