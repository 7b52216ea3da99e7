"""What the evaluation suite does to protected models and their outputs."""

from .edits import EDITS, apply_edit, list_edits

__all__ = ["EDITS", "apply_edit", "list_edits"]
