"""When to draw tqdm bars."""

from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """As asked (``progress=true|false``), else only when stderr is a terminal: no bars in CI logs or files."""
    return sys.stderr.isatty() if progress is None else bool(progress)
