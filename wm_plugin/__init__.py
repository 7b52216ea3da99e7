"""wm: invisible, owner-specific watermarks for image-processing models."""
__version__ = "0.1.0"
