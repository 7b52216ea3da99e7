"""The two MMagic tool commands share one shape: ``CONFIG`` plus MMagic's own tool arguments, passed on."""

from __future__ import annotations

import click


def tool_command(name: str, method: str, help: str) -> click.Command:
    """A command that hands ``CONFIG`` and every other argument to the MMagic adapter's ``method``."""

    @click.command(name, help=help, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.argument("config", type=click.Path(dir_okay=False))
    @click.pass_context
    def command(ctx, config) -> None:
        from wm_plugin.adapters import load_adapter

        getattr(load_adapter("mmagic"), method)(config, list(ctx.args))

    return command
