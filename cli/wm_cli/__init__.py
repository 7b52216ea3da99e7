"""The ``wm`` command line: a thin click layer over ``wm_plugin``."""
