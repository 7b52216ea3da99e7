"""One module per ``wm`` command; each defines ``command``."""
