"""The two BasicSR pipeline commands share one shape: ``-opt FILE`` plus BasicSR's own arguments, passed on."""

from __future__ import annotations

import click


def pipeline_command(name: str, method: str, help: str) -> click.Command:
    """A command that hands ``-opt FILE`` and every other argument to the BasicSR adapter's ``method``."""

    @click.command(name, help=help, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.option("--config", "-opt", "config", required=True, type=click.Path(dir_okay=False),
                  help="BasicSR options YAML.")
    @click.pass_context
    def command(ctx, config) -> None:
        from wm_plugin.adapters import load_adapter

        getattr(load_adapter("basicsr"), method)(config, list(ctx.args))

    return command
