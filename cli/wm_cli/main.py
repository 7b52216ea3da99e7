"""The ``wm`` click group: command lookup, ``--debug``, and the one place where errors become exit codes.

Every error, usage or runtime, prints one ``Error:`` line on stderr and exits 2 (``wm verify`` keeps 1 for
"not detected"); ``--debug`` shows the traceback instead. Commands live one per module in ``commands/``
and are imported only when run, so ``wm --help`` does not load torch.
"""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS = {
    "keygen": "Create an owner key file.",
    "embed": "Mark images with an owner's watermark.",
    "extract": "Read the watermark bits of images.",
    "verify": "Test whether images carry an owner's watermark (exit 0 detected, 1 not, 2 error).",
    "eval": "Apply common edits to protected outputs and report what is still detected.",
    "protect": "Protect a framework checkpoint (BasicSR, MMagic) with the owner's watermark.",
    "basicsr-train": "BasicSR's train.py with the watermark: flag of the options file honoured.",
    "basicsr-test": "BasicSR's test.py, able to run checkpoints written by `wm protect`.",
    "mmagic-train": "MMagic's tools/train.py with the watermark block of the config honoured.",
    "mmagic-test": "MMagic's tools/test.py, able to run checkpoints written by `wm protect`.",
    "train": "Train the embedder and extractor (stage 1), or the extractor on surrogates (stage 2).",
    "demo": "Mark the bundled sample images and verify them, end to end.",
    "adapters": "List the installed framework adapters.",
}


class CommandError(click.ClickException):
    """An expected failure: one line, exit code 2."""

    exit_code = 2


class WmGroup(click.Group):
    """Loads each command's module on demand and maps library errors to ``CommandError``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"wm_cli.commands.{name.replace('-', '_')}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))

    def invoke(self, ctx: click.Context):
        from wm_plugin.errors import WatermarkError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except WatermarkError as e:
            if ctx.params.get("debug"):
                raise
            raise CommandError(str(e)) from None
        except KeyboardInterrupt:
            raise CommandError("interrupted") from None
        except Exception as e:  # a bug or an unforeseen input: still one line, the traceback on demand
            if ctx.params.get("debug"):
                raise
            raise CommandError(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)") from None


@click.group(cls=WmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="wm-plugin", prog_name="wm")
def cli(debug: bool) -> None:
    """wm: invisible, owner-specific watermarks for image-processing models."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs ``cli`` and turns every failure into one line and an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = cli.main(args=args, prog_name="wm", standalone_mode=False, auto_envvar_prefix="WM",
                        obj={"argv": ["wm", *args]})
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:  # usage errors too: one line, without click's usage banner
        click.echo(f"Error: {e.format_message()}", err=True)
        code = 2
    except click.Abort:
        click.echo("Error: interrupted", err=True)
        code = 2
    sys.exit(code if isinstance(code, int) else 0)
