"""Warnings that point at the caller's line, however deep inside the library they arise.

A fixed ``stacklevel`` ties a warning to one call chain: the same rule reached through the
constructor, the codec or ``validate`` would blame a different, wrong frame. Python 3.12's
``skip_file_prefixes`` does this; 3.11 needs the frame walk below.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["warn_caller"]

# The package's files, and the __init__ methods attrs generates for its classes.
_INSIDE = (str(Path(__file__).resolve().parent.parent), "<attrs generated ")


def warn_caller(message: str, category: type[Warning]) -> None:
    """Issue ``message`` attributed to the first frame outside this package."""
    level = 2  # stacklevel 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
