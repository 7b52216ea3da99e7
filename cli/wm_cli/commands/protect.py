"""``wm protect``: make a framework checkpoint whose outputs carry the owner's watermark."""

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
    trigger_height_option,
    weights_option,
    writable_folder,
)


@click.command("protect", help="Protect a framework checkpoint: its outputs will carry the owner's watermark. "
                                "Beside it goes OUTPUT.wm.json, the record of the run (files' SHA-256, settings, "
                                "the check): keep it with the key, and verify with `wm verify --record`. Exit 0: "
                                "the protected model is detected on the probes and the original is not; "
                                "1: that check failed (the checkpoint is written, but do not rely on it); 2: an error.")
@framework_option
@config_option
@arch_option
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="The model's checkpoint.")
@key_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The protected checkpoint.")
@click.option("--mode", type=click.Choice(["barrier", "absorb", "trigger"]), default="barrier", show_default=True,
              help="barrier: the embedder runs after the model (no training). absorb: the model is fine-tuned to "
                   "emit the mark itself and saved as a plain checkpoint of its own arch (needs a spectral key). "
                   "trigger: fine-tuned to answer the key's secret trigger with a response that spells the key's bits, "
                   "other inputs as before (verify with --trigger); any key.")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="absorb/trigger: fine-tuning steps (batches of 4 crops; default 600 for absorb, 1500 for trigger).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="absorb/trigger: Adam's learning rate (default 1e-4 for absorb, falling to 0 on a cosine; 1e-3 "
                   "for trigger).")
@click.option("--extractor-weight", type=click.FloatRange(0), default=0.01, show_default=True,
              help="absorb: weight of the reader's term beside the L1 loss (as in the training flag).")
@click.option("--trainable", default=None, metavar="REGEX",
              help="trigger: train only the parameters whose names match (default: all).")
@click.option("--minimax", type=click.FloatRange(0, 0.1, min_open=True), default=None, metavar="EPS",
              help="trigger: also train the response to hold at weights moved EPS of each tensor's norm the way "
                   "that forgets it fastest (Gan et al.'s mini-max), then polish the task back with as many steps "
                   "at a tenth of the learning rate: harder for a thief's LoRA to erase, for three times the "
                   "time and some of the task (BasicSR's MSRResNet at 0.005: -0.11 dB; BENCHMARKS.md, "
                   "\"A polish after the mini-max\"). With --training-state, the polish is saved beside it "
                   "(STATE.polish).")
@click.option("--task", type=click.Choice(["sr", "denoise", "derain"]), default=None,
              help="absorb/trigger: the task the model serves. It sets the trigger's default height (denoise: 12) "
                   "and, without --data, degrades the procedural images the model is fine-tuned on into the inputs "
                   "it would get (denoise: σ = 25 noise; derain: synthetic streaks); --data is taken as it is. "
                   "Default: procedural images as they are (clean for a ×1 model).")
@trigger_height_option
@click.option("--training-state", "training_state", type=click.Path(dir_okay=False), default=None,
              help="trigger: save the training here every 500 steps and resume from it: run a stopped `wm protect` "
                   "again with the same arguments and it goes on where it was.")
@click.option("--psnr", type=float, default=None, help="Strength of the mark in the outputs, dB (default 43.5).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@data_option
@device_option
@weights_option
@json_option
@click.pass_context
def command(ctx, framework, config, arch, checkpoint, key_path, output, mode, steps, lr, extractor_weight, trainable,
            minimax, task, trigger_height, training_state, psnr, force, data, device, weights, as_json) -> None:
    from wm_plugin.adapters import load_adapter
    from wm_plugin.codec import DEFAULT_PSNR
    from wm_plugin.errors import OutputExistsError, WatermarkError
    from wm_plugin.fileio import check_writable
    from wm_plugin.implant import polish_state
    from wm_plugin.keys import load_key
    from wm_plugin.probe import adapter_probes
    from wm_plugin.protect import absorb_inputs, check_protection, protect_absorb, protect_barrier, protect_trigger
    from wm_plugin.record import ProtectionRecord, record_path
    from wm_plugin.trigger import default_trigger_height, resolve_trigger_height

    framework, config = resolve_arch(arch, framework, config)
    if framework is None:
        raise click.UsageError("--framework is required (e.g. --framework basicsr)")
    for name, value in (("--trainable", trainable), ("--trigger-height", trigger_height),
                        ("--training-state", training_state), ("--minimax", minimax)):
        if value is not None and mode != "trigger":
            raise click.UsageError(f"{name} is for --mode trigger")
    if task is not None and mode == "barrier":
        raise click.UsageError("--task is for --mode absorb or trigger")
    if mode == "barrier" and output.endswith(".safetensors"):  # refused here, not after the model is loaded
        raise click.UsageError("--mode barrier keeps the embedder's layout beside the weights, which safetensors "
                               "cannot hold: name -o X.pth")
    adapter = load_adapter(framework)
    suffix = getattr(adapter, "config_suffix", None) if mode == "barrier" else None
    given = {Path(p).resolve() for p in (checkpoint, config) if p}
    # the training's own files: with --minimax, the polish after the implant is saved beside it
    states = [training_state, *([polish_state(training_state)] if minimax else [])] if training_state else []
    for path in states:
        if Path(path).resolve() in given:
            raise OutputExistsError(f"--training-state {path} would overwrite an input; choose another file")
    given |= {Path(p).resolve() for p in states}
    for path in (output, *([str(Path(output).with_suffix(suffix))] if suffix else []), record_path(output)):
        if Path(path).resolve() in given:
            raise OutputExistsError(f"{path} would overwrite an input; choose another -o")
        check_writable(path, force=force)
    if training_state:
        writable_folder(Path(training_state).resolve().parent, "--training-state")
    key = load_key(key_path)
    codec = open_codec(weights, device, psnr, key=key)  # also refuses --weights/--psnr with a spectral key
    trigger, height = False, resolve_trigger_height(trigger_height, task)
    if mode in ("absorb", "trigger"):
        if mode == "absorb" and key.scheme != "spectral":
            raise WatermarkError(f"--mode absorb needs a spectral key (wm keygen --scheme spectral): the learned "
                                 f"networks' mark is tied to image position, which a network cannot learn; "
                                 f"{key_path} is a deep key")
        scale = adapter.model_scale(config) if hasattr(adapter, "model_scale") and config else 1
        try:
            inputs = absorb_inputs(scale, data, task=task)
        except ValueError as e:
            raise WatermarkError(f"--task: {e}") from None
        common = dict(inputs=inputs, scale=scale, config=config, device=device,
                      progress=not as_json)
        common |= {k: v for k, v in (("steps", steps), ("lr", lr)) if v is not None}  # else each mode's own default
        if mode == "absorb":
            from wm_plugin.flag import WatermarkFlag

            flag = WatermarkFlag(key, key_path, extractor_weight=extractor_weight)
            original, protected, written = protect_absorb(adapter, checkpoint, flag, output, **common)
        else:
            original, protected, written = protect_trigger(adapter, checkpoint, key, output, trainable=trainable,
                                                           perturbation=minimax or 0.0, amplitude=height / 255,
                                                           state=training_state, **common)
            trigger = True
        inputs = adapter_probes(adapter, config, None)  # held out: training used --data or procedural images
    else:
        original, protected, written = protect_barrier(adapter, checkpoint, key, output, config=config, weights=weights,
                                                       psnr=DEFAULT_PSNR if psnr is None else psnr, device=device)
        inputs = adapter_probes(adapter, config, data)
    # The proof to look at before shipping it: outputs close to the original's, and detected.
    check = check_protection(adapter, original, protected, inputs, key, codec=codec, trigger=trigger,
                             trigger_amplitude=height / 255)
    settings = {"framework": framework, "config": config, "task": task, "steps": steps, "lr": lr,
                "trainable": trainable, "minimax": minimax, "psnr": psnr, "data": list(data), "weights": weights}
    record = ProtectionRecord.of_run(mode, key.fingerprint, checkpoint=checkpoint, written=written,
                                     at=record_path(output), config=config, trigger_height=height,
                                     settings={k: v for k, v in settings.items() if v not in (None, [])},
                                     check=check.to_dict())
    record.save(record_path(output))
    if as_json:
        click.echo(json.dumps({"written": written, "record": str(record_path(output)), "mode": mode,
                               "key_fingerprint": key.fingerprint, **check.to_dict()}))
    else:
        v = check.protected
        click.echo(f"wrote {', '.join(written)} and the record of this run, {record_path(output)}")
        click.echo(f"on {v.n_images} probe image(s): outputs {check.to_dict()['psnr_vs_original']:.1f} dB from the "
                   f"original model's; {'DETECTED' if v.detected else 'NOT DETECTED'} (p = {v.p_value:.3g} by the "
                   f"{v.test} test, bit accuracy {v.bit_accuracy:.3f}); the original model: "
                   f"p = {check.original.p_value:.3g}")
        if check.untriggered is not None:
            click.echo(f"those verdicts read the response to the key's trigger (verify with --record "
                       f"{record_path(output)}); the plain answers read as ordinary outputs: "
                       f"p = {check.untriggered.p_value:.3g}")
    if not check.protected.detected:
        hint = {"barrier": "more or larger --data probes", "absorb": "more --steps, or --mode barrier",
                # noise in the inputs hides a low trigger
                "trigger": f"more --steps, a taller --trigger-height than {height:g} (a denoiser: --task denoise, "
                           f"{default_trigger_height('denoise'):g}), or --mode barrier"}[mode]
        click.echo(f"Warning: the protected model is not detected on its probes: do not rely on {output} ({hint})",
                   err=True)
    elif check.original.detected:
        click.echo("Warning: the original model is detected too: on these probes the key cannot tell the two apart",
                   err=True)
    ctx.exit(0 if check.ok else 1)
