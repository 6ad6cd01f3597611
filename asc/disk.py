"""Free disk space, checked before anything is written: every need is added up per file system, so a short disk
fails in the first second with what is missing instead of half-way with ``Errno 28``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MARGIN = 256 << 20  # head-room left on every file system the plan writes to


@dataclass(frozen=True)
class Need:
    """Bytes the plan will write under ``path`` (what: a short description for the error)."""

    path: Path
    bytes: int
    what: str


class DiskSpaceError(OSError):
    """The plan does not fit on the disks it writes to (raised before anything is written)."""


def human_bytes(n: float) -> str:
    """A byte count in the largest binary unit that keeps it below 1024, e.g. "1.5 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def _device(path: Path) -> int:
    """The file system a folder (or the nearest existing parent of one still to be made) lives on."""
    return os.stat(_existing(path)).st_dev


def check_disk(plan: Sequence[Need], *, margin: int = MARGIN) -> None:
    """Raise one DiskSpaceError listing every file system whose free space is short of what the plan writes
    there (needs under folders on one device are added up)."""
    by_fs: dict[int, list[Need]] = {}
    for need in plan:
        by_fs.setdefault(_device(need.path), []).append(need)
    short = []
    for needs in by_fs.values():
        total, free = sum(n.bytes for n in needs) + margin, shutil.disk_usage(_existing(needs[0].path)).free
        if free < total:
            parts = " + ".join(f"{human_bytes(n.bytes)} for {n.what} in {n.path}" for n in needs)
            short.append(
                f"  need {human_bytes(total)} ({parts} + {human_bytes(margin)} margin), "
                f"free {human_bytes(free)}"
            )
    if short:
        raise DiskSpaceError(
            "not enough free disk space for the dataset:\n" + "\n".join(short) + "\nFree some space, set "
            "dataset.delete_archives=true (each zip is deleted once extracted: saves 27 GB on TAU), or point "
            "paths.data (or dataset.root / dataset.download_dir) at a larger disk"
        )
