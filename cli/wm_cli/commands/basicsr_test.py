"""``wm basicsr-test``: BasicSR's own test pipeline, able to build the checkpoints ``wm protect`` writes."""

from ._basicsr import pipeline_command

command = pipeline_command(
    "basicsr-test", "test",
    help="Run BasicSR's test_pipeline on -opt FILE (e.g. the .yml `wm protect` wrote). Other arguments go to BasicSR "
         "unchanged.",
)
