"""``wm mmagic-train``: MMagic's own tools/train.py, with the config's ``watermark`` block honoured."""

from ._mmagic import tool_command

command = tool_command(
    "mmagic-train", "train",
    help="Run MMagic's tools/train.py on CONFIG with its watermark = dict(...) honoured. Other arguments go to "
         "it unchanged (--work-dir, --resume, --amp, --cfg-options, --launcher).",
)
