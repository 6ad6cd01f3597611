"""Where a result came from: the asc version, the git commit of its source (with a dirty flag), the versions of
the libraries that compute it (torch, numpy, librosa) and the host.

Recorded in every artifact's manifest (``provenance``) and as columns of every results row (:data:`COLUMNS`).
Never part of an artifact's key: the same config gives the same artifact whatever built it, and the record says
what did. Torch-free (versions are read from the installed distributions' metadata, nothing is imported), so
planning may call it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

# The results columns, in table order (asc/report/results.py appends them to its columns).
COLUMNS = (
    "asc_version",
    "git_commit",
    "git_dirty",
    "torch_version",
    "numpy_version",
    "librosa_version",
    "python_version",
    "host",
)
LIBRARIES = {
    "asc_version": "asc",
    "torch_version": "torch",
    "numpy_version": "numpy",
    "librosa_version": "librosa",
}
SOURCE = Path(__file__).resolve().parents[1]  # the asc package this process runs
GIT_TIMEOUT_S = 10


def version(distribution: str) -> str | None:
    """The installed version of ``distribution`` from its metadata (nothing is imported), None without it."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``model name``, or ``Hardware`` on some ARM boards), else
    :func:`platform.processor` or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(source: Path, *args: str) -> str | None:
    """``git -C source args`` stripped, or None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(source: Path = SOURCE) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout the asc package ``source`` lives in; (None, None) when it is not
    tracked by one (an installed wheel, even inside some other repository's folder). Dirty: a tracked file
    differs from the commit, or a file git does not ignore is untracked (a new module changes results too)."""
    if _git(source, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None, None
    commit = _git(source, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(source, "status", "--porcelain")
    return commit, (bool(status) if status is not None else None)


@functools.cache
def provenance() -> dict[str, Any]:
    """``{column: value}`` for :data:`COLUMNS` (a value None when unknown: a library not installed, no git
    checkout). Computed once per process."""
    commit, dirty = git_state()
    found: dict[str, Any] = {column: version(dist) for column, dist in LIBRARIES.items()}
    found |= {
        "git_commit": commit,
        "git_dirty": dirty,
        "python_version": platform.python_version(),
        "host": socket.gethostname(),
    }
    return {column: found[column] for column in COLUMNS}
