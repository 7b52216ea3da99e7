"""Where a benchmark's figures go: a JSON document and, beside it, the Markdown table that BENCHMARKS.md quotes.

Both are written atomically, so a run cut off mid-write never leaves half a file in ``benchmarks/results/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from wm_plugin.fileio import write_text_atomic


def write_json(path: str | os.PathLike, doc: Any) -> None:
    """Write ``doc`` to ``path`` as indented JSON, atomically (its folder is made if missing)."""
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")


def write_results(folder: str | os.PathLike, stem: str, doc: Any, table: str | Sequence[str]) -> None:
    """Write ``folder/stem.json`` and ``folder/stem.md`` (the table, as text or lines), then print the table."""
    text = table if isinstance(table, str) else "\n".join(table) + "\n"
    write_json(Path(folder) / f"{stem}.json", doc)
    write_text_atomic(Path(folder) / f"{stem}.md", text)
    print(text, end="")


def append_row(path: str | os.PathLike, row: Any) -> None:
    """Append ``row`` as one line of JSON to ``path`` (its folder made if missing): the logs that successive runs of
    a benchmark add to. One write per row, so a run cut off leaves the earlier rows whole."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
