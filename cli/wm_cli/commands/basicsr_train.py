"""``wm basicsr-train``: BasicSR's own training, with the ``watermark:`` section of the options file honoured."""

from ._basicsr import pipeline_command

command = pipeline_command(
    "basicsr-train", "train",
    help="Run BasicSR's train_pipeline on -opt FILE with its watermark: section honoured. Other arguments go to "
         "BasicSR unchanged (--launcher, --auto_resume, --debug, --force_yml).",
)
