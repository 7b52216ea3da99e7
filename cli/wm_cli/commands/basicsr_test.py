"""``wm basicsr-test``: BasicSR's own test pipeline, able to build the checkpoints ``wm protect`` writes."""

from __future__ import annotations

import click


@click.command("basicsr-test", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               help="Run BasicSR's test_pipeline on -opt FILE (e.g. the .yml `wm protect` wrote). Other arguments "
                    "go to BasicSR unchanged.")
@click.option("--config", "-opt", "config", required=True, type=click.Path(dir_okay=False), help="BasicSR options YAML.")
@click.pass_context
def command(ctx, config) -> None:
    from wm_plugin.adapters import load_adapter

    load_adapter("basicsr").test(config, list(ctx.args))
