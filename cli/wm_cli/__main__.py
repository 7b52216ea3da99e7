"""``python -m wm_cli``: the same as the ``wm`` console script."""

from .main import main

main()
