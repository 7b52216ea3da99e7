"""What the evaluation suite does to protected models and their outputs."""

from .edits import DEFAULT_EDITS, apply_edit, check_edit, list_edits

__all__ = ["DEFAULT_EDITS", "apply_edit", "check_edit", "list_edits"]
