"""``wm eval``: the image-edit attacks on a protected model's outputs, the attacks on its weights (pruning,
noise, int8, fine-tuning, LoRA) and the surrogate attacks (models trained on its answers)."""

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
    model_query,
    open_codec,
    record_option,
    trigger_height_option,
    trigger_option,
    weights_option,
    writable_folder,
)


@click.command("eval", help="Apply common edits (JPEG, resize, crop, noise, blur) to a protected model's outputs "
                            "(--outputs) or to a protected model's answers on probe inputs (--model), and report "
                            "what verification still detects. With --model and --attacks, attack the model "
                            "instead (pruning, weight noise, int8, fine-tuning and LoRA on clean pairs of its task; "
                            "surrogates trained on its answers) and verify each attacked copy or surrogate. Writes "
                            "eval.md and eval.json with -o DIR.")
@key_option
@click.option("--outputs", "outputs", multiple=True, type=click.Path(),
              help="Folder (or file) of protected outputs; repeatable.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A protected checkpoint, run on probe inputs.")
@framework_option
@config_option
@arch_option
@data_option
@trigger_option
@trigger_height_option
@record_option
@click.option("--edits", default=None, metavar="LIST",
              help="Comma-separated edits (default: none, jpeg90, jpeg75, jpeg50, resize0.5, resize2, crop50%, "
                   "noise2/255, blur1); any strength of each form: jpeg60, resize0.75, crop25%, noise8/255, blur2.")
@click.option("--attacks", default=None, metavar="LIST",
              help="Comma-separated attacks on the --model: on its weights none, prune30, weightnoise1%, int8, "
                   "finetune1k, lora1k (any step count: finetune5k, lora300); on its inputs chromanotch, chromablur "
                   "(a chroma filter in front of it); on its answers "
                   "surrogate-ARCH-LOSS-STEPS, ARCH unet|resnet9|srvgg, LOSS l1|l2|ssim|adv|perceptual "
                   "(e.g. surrogate-unet-l1-2k; perceptual needs --vgg-weights). "
                   "Given alone, no edits run.")
@click.option("--task", type=click.Choice(["sr", "denoise", "derain"]), default=None,
              help="The task the fine-tuning and surrogate attacks train on (default: sr for models that upscale, "
                   "else denoise).")
@click.option("--attack-data", "attack_data", multiple=True, type=click.Path(), default=(),
              help="The thief's clean images (files or folders) for the training attacks (default: procedural images).")
@click.option("--vgg-weights", "vgg_weights", type=click.Path(dir_okay=False), default=None,
              help="torchvision's VGG19 weights (e.g. BasicSR's vgg19-dcbb9e9d.pth) for the perceptual surrogate loss.")
@click.option("--lr", type=float, default=1e-4, show_default=True, help="Learning rate of the fine-tuning attacks.")
@click.option("--lora-rank", "lora_rank", type=click.IntRange(1), default=4, show_default=True,
              help="Rank of the LoRA attacks' adapters.")
@click.option("--checkpoints", type=click.Path(file_okay=False), default=None,
              help="Save the training attacks (fine-tuning, LoRA, surrogates) here as ATTACK.pt every 500 steps, and "
                   "resume each one from its file: a stopped run goes on where it was, a finished one is not redone.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Write eval.md and eval.json here.")
@click.option("--force", is_flag=True, help="Overwrite eval.md / eval.json.")
@device_option
@weights_option
@json_option
def command(key_path, outputs, model, framework, config, arch, data, trigger, trigger_height, record, edits, attacks,
            task, attack_data, vgg_weights, lr, lora_rank, checkpoints, output, force, device, weights,
            as_json) -> None:
    import numpy as np

    from wm_plugin.attacks import check_edit, list_edits
    from wm_plugin.attacks.models import check_model_attack, surrogate_loss
    from wm_plugin.errors import WatermarkError
    from wm_plugin.evaluate import edits_markdown, evaluate_edits, evaluate_model_attacks, model_attacks_markdown
    from wm_plugin.fileio import check_writable, write_text_atomic
    from wm_plugin.io import list_images, read_image
    from wm_plugin.keys import load_key
    from wm_plugin.probe import adapter_probes, as_picture, model_outputs

    if bool(outputs) == bool(model):
        raise click.UsageError("give either --outputs (images) or --model (a checkpoint, with --framework or --arch)")
    key = load_key(key_path)
    query = model_query(model, record, key, framework=framework, config=config, arch=arch, trigger=trigger,
                        trigger_height=trigger_height)
    framework, config, trigger, trigger_height = query.framework, query.config, query.trigger, query.trigger_height
    if attacks and not model:
        raise click.UsageError("--attacks attacks a model's weights: give --model")
    if trigger and (edits or not attacks):
        raise click.UsageError("--trigger reads a model's response to its trigger under --attacks (none for the model "
                               "as it is); edits of its answers are not read that way")
    names = [e.strip() for e in edits.split(",")] if edits else ([] if attacks else list_edits())
    for name in names:
        try:
            check_edit(name)
        except KeyError as e:
            raise WatermarkError(f"--edits: {e.args[0]}") from None
    attack_names = [a.strip() for a in attacks.split(",")] if attacks else []
    for name in attack_names:
        try:
            check_model_attack(name)
        except KeyError as e:
            raise WatermarkError(f"--attacks: {e.args[0]}") from None
    perceptual_loss = None
    if any(surrogate_loss(name) == "perceptual" for name in attack_names):
        if vgg_weights is None:
            raise click.UsageError("the perceptual surrogate loss needs --vgg-weights FILE (torchvision's VGG19 "
                                   "weights); nothing is downloaded")
        from wm_plugin.attacks.perceptual import PerceptualLoss, load_vgg19_features

        perceptual_loss = PerceptualLoss(load_vgg19_features(vgg_weights))  # a wrong file fails now, before any attack
    files = [Path(output) / "eval.md", Path(output) / "eval.json"] if output else []
    for path in files:
        check_writable(path, force=force)
    codec = open_codec(weights, device, key=key)
    attack_results = []
    if model:
        from wm_plugin.adapters import load_adapter

        adapter = load_adapter(framework)
        net = adapter.load_model(model, config=config, device=device)
        inputs = adapter_probes(adapter, config, data)
        labels = [n for n, _ in inputs]
        answers = model_outputs(lambda x: adapter.run(net, x), inputs, device=device, progress=not as_json)
        images = [as_picture(o).pixels for o in answers]
        if attack_names:
            # the scale as the model answers, whatever the config says
            scale = max(1, round(images[0].shape[0] / inputs[0][1].shape[0]))
            setting = _attack_setting(scale, task, attack_data, lr, lora_rank, perceptual_loss, progress=not as_json,
                                      checkpoints=checkpoints)
            attack_results = evaluate_model_attacks(net, adapter.run, attack_names, inputs, key, codec=codec,
                                                    setting=setting, unattacked=answers, trigger=trigger,
                                                    trigger_amplitude=trigger_height / 255)
    else:
        paths = list_images(outputs)
        labels = [str(p) for p in paths]
        images = [np.rint(read_image(p).rgb_float() * 255).astype(np.uint8) for p in paths]
    results = evaluate_edits(labels, images, key, codec=codec, edits=names) if names else []
    tables = [edits_markdown(results)] if results else []
    tables += [model_attacks_markdown(attack_results)] if attack_results else []
    doc = {"key_fingerprint": key.fingerprint, "n_images": len(images), "edits": [r.to_dict() for r in results],
           "model_attacks": [r.to_dict() for r in attack_results]}
    report = f"# wm eval\n\n{len(images)} output(s), key {key.fingerprint}\n\n" + "\n".join(tables)
    for path, text in zip(files, (report, json.dumps(doc, indent=2))):
        write_text_atomic(path, text)
    click.echo(json.dumps(doc) if as_json else "\n".join(t.rstrip() for t in tables))


def _attack_setting(scale, task, attack_data, lr, lora_rank, perceptual_loss, *, progress, checkpoints):
    """What the training attacks train with: the thief's clean images (or procedural ones), the task, the
    surrogates' perceptual loss, and where their training is saved."""
    from wm_plugin.attacks.models import AttackSetting
    from wm_plugin.attacks.tasks import check_task, default_task
    from wm_plugin.errors import WatermarkError
    from wm_plugin.io import read_images_compact

    task = task or default_task(scale)
    try:
        check_task(task, scale)
    except ValueError as e:
        raise WatermarkError(f"--task: {e}") from None
    clean = read_images_compact(attack_data) if attack_data else None
    setting = AttackSetting.for_model(scale, task=task, clean=clean, lr=lr, lora_rank=lora_rank,
                                      perceptual_loss=perceptual_loss, progress=progress, checkpoints=checkpoints)
    if clean and any(min(x.shape[:2]) < setting.crop for x in clean):
        raise WatermarkError(f"--attack-data: images must be at least {setting.crop} px a side")
    if checkpoints:
        writable_folder(checkpoints, "--checkpoints")
    return setting
