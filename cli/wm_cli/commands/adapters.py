"""``wm adapters``: list the framework adapters installed through the ``wm.adapters`` entry points."""

from __future__ import annotations

import dataclasses
import json

import click

from ..options import json_option


@click.command("adapters", help="List the installed framework adapters (entry-point group wm.adapters).")
@click.option("--check", is_flag=True, help="Also import each adapter and check it against the contract.")
@json_option
def command(check: bool, as_json: bool) -> None:
    from wm_plugin.adapters import list_adapters, load_adapter
    from wm_plugin.errors import AdapterError

    rows = []
    for info in list_adapters():
        row = dataclasses.asdict(info)
        if check:
            try:
                load_adapter(info.name)
                row["status"] = "ok"
            except AdapterError as e:
                row["status"] = str(e)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no framework adapters installed")
    for r in rows:
        status = f"  [{r['status']}]" if check else ""
        click.echo(f"{r['name']:<12} {r['distribution']} {r['version']}  ({r['value']}){status}")
