"""Options shared by several commands, and the helpers that turn them into library objects."""

from __future__ import annotations

import dataclasses
import os

import click

device_option = click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Where the networks run."
)
weights_option = click.option(
    "--weights", type=click.Path(file_okay=False), default=None,
    help="Folder with embedder.safetensors and extractor.safetensors (default: the shipped ones).",
)
key_option = click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Owner key file.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def open_codec(weights: str | None, device: str, psnr: float | None = None, *, key=None):
    """The codec for ``key``'s scheme (``wm_plugin.api.codec_for``; the learned networks without a key);
    a missing CUDA device is one line here."""
    from wm_plugin.api import codec_for
    from wm_plugin.errors import WatermarkError

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise WatermarkError("--device cuda: no CUDA device is available here; use --device cpu")
    return codec_for(key, weights=weights, device=device, psnr=psnr)

framework_option = click.option(
    "--framework", default=None, metavar="NAME",
    help="The model's framework adapter (basicsr, mmagic, ...; `wm adapters` lists them).",
)
config_option = click.option(
    "--config", "-opt", "config", type=click.Path(dir_okay=False), default=None,
    help="The framework's config of the model (BasicSR options YAML, MMagic config).",
)
arch_option = click.option(
    "--arch", default=None, metavar="SPEC",
    help="A bare PyTorch model: its class as package.module:Class or package.module:Class(key=value, ...) "
         "(the same as --framework torch --config SPEC).",
)


def writable_folder(folder: str | os.PathLike, option: str) -> None:
    """Create ``folder`` if need be and check that it can be written to: said now, not at the first save of a
    training hours in.

    Raises:
        WatermarkError: it cannot be created or is not writable (one line naming ``option``).
    """
    from wm_plugin.errors import WatermarkError

    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise WatermarkError(f"{option}: cannot create {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise WatermarkError(f"{option}: {folder} is not writable")


def resolve_arch(arch: str | None, framework: str | None, config: str | None) -> tuple[str | None, str | None]:
    """(framework, config) once ``--arch`` is taken into account."""
    if arch is None:
        return framework, config
    if framework not in (None, "torch") or config is not None:
        raise click.UsageError("--arch names a bare PyTorch model; leave out --framework and --config")
    return "torch", arch


data_option = click.option(
    "--data", "--probe", "data", multiple=True, type=click.Path(), default=(),
    help="Model inputs to probe with (files or folders; default: the bundled samples, shrunk by the model's scale).",
)

trigger_height_option = click.option(
    "--trigger-height", "trigger_height", type=click.FloatRange(0, 64, min_open=True), default=None,
    help="The trigger's height in /255, for --mode trigger and --trigger (default 4; for protect --task denoise "
         "12, as noisy inputs hide a lower one): verify with the height the model was protected with (its record, "
         "OUTPUT.wm.json, holds it: --record).",
)


trigger_option = click.option(
    "--trigger", is_flag=True,
    help="Probe the model with and without the key's secret trigger and read its response (for models "
         "protected with --mode trigger).",
)

record_option = click.option(
    "--record", type=click.Path(dir_okay=False), default=None,
    help="The record `wm protect` wrote beside the protected checkpoint (OUTPUT.wm.json): query the --model as that "
         "run protected it (in trigger mode: --trigger, with its height), with its --framework and --config unless "
         "given.",
)


@dataclasses.dataclass(frozen=True)
class ModelQuery:
    """How ``wm verify`` and ``wm eval`` run a ``--model``: with which framework and config, and whether with the
    key's trigger, of which height (/255)."""

    framework: str | None
    config: str | None
    trigger: bool
    trigger_height: float


def model_query(model: str | None, record: str | None, key, *, framework: str | None, config: str | None,
                arch: str | None, trigger: bool, trigger_height: float | None) -> ModelQuery:
    """The query the options ask for: ``--framework``/``--config``/``--arch``, ``--trigger`` and ``--trigger-height``;
    or ``--record`` (checked to be ``key``'s): its mode and height (then neither trigger option may be given), and
    its framework and config unless the suspect's are given. Raises ``click.UsageError`` for an option that has
    no use, or a --model with no framework to run it in."""
    framework, config = resolve_arch(arch, framework, config)
    if (trigger or record) and not model:
        raise click.UsageError(f"{'--trigger' if trigger else '--record'} is about querying a --model")
    if record is not None:
        if trigger or trigger_height is not None:
            raise click.UsageError("--record says how to query the model; leave out --trigger and --trigger-height")
        from wm_plugin.errors import WatermarkError
        from wm_plugin.record import load_record, recorded_path

        doc = load_record(record)
        if doc.key_fingerprint != key.fingerprint:
            raise WatermarkError(f"{record} records a protection with key {doc.key_fingerprint}; --key is "
                                 f"{key.fingerprint}")
        trigger, trigger_height = doc.mode == "trigger", doc.trigger_height
        if framework is None and config is None:  # a copy of the protected model runs as the protect run ran it
            framework, config = doc.settings.get("framework"), doc.settings.get("config")
            config = config and recorded_path(config, record)
    if trigger_height is not None and not trigger:
        raise click.UsageError("--trigger-height is for --trigger")
    if model and not framework:
        raise click.UsageError("--model needs --framework (e.g. --framework basicsr) and usually --config, or --arch "
                               "or --record")
    from wm_plugin.trigger import resolve_trigger_height

    return ModelQuery(framework, config, trigger, resolve_trigger_height(trigger_height))
