"""``wm mmagic-test``: MMagic's own tools/test.py, able to run checkpoints written by ``wm protect``."""

from ._mmagic import tool_command

command = tool_command(
    "mmagic-test", "test",
    help="Run MMagic's tools/test.py: CONFIG CHECKPOINT, then its other arguments (--work-dir, --out, "
         "--cfg-options, --launcher).",
)
