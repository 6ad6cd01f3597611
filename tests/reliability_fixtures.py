"""Fault injection for the reliability tests: a small tmpfs (a full disk), a read-only mount, a child process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GB = 10**9
Usage = namedtuple("Usage", "total used free")
MOUNTED: set[int] = (
    set()
)  # devices of the tmpfs mounted by a test: their real free space is what is under test


def fake_disks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free: dict[str, int]) -> None:
    """Each named folder under tmp_path is its own file system (a mount point) with the given free bytes."""
    from asc.core import disk

    for name in free:
        (tmp_path / name).mkdir(exist_ok=True)

    def top(path: Path) -> str:
        return next(p for p in free if p in Path(path).parts)

    monkeypatch.setattr(disk, "_device", lambda path: hash(top(path)))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(0, 0, free[top(path)]))


@contextmanager
def mounted_tmpfs(path: Path, *, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the block (skips the test where this process may not mount one)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    device = os.stat(path).st_dev
    MOUNTED.add(device)
    try:
        yield path
    finally:
        MOUNTED.discard(device)
        subprocess.run(["umount", "-l", str(path)], check=False)


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a SIGBUS there cannot take pytest down); repo root on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env
    )
