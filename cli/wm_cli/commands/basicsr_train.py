"""``wm basicsr-train``: BasicSR's own training, with the ``watermark:`` section of the options file honoured."""

from __future__ import annotations

import click


@click.command("basicsr-train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               help="Run BasicSR's train_pipeline on -opt FILE with its watermark: section honoured. Other "
                    "arguments go to BasicSR unchanged (--launcher, --auto_resume, --debug, --force_yml).")
@click.option("--config", "-opt", "config", required=True, type=click.Path(dir_okay=False), help="BasicSR options YAML.")
@click.pass_context
def command(ctx, config) -> None:
    from wm_plugin.adapters import load_adapter

    load_adapter("basicsr").train(config, list(ctx.args))
