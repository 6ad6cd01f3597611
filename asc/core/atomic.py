"""Write-then-rename: a reader (or a crash) never sees a half-written file.

The temporary sibling is named ``.<name>.<host>-<pid>.<random>.tmp`` (``<host>``: a short hash of the host name),
so that a later run can tell the leftovers of a killed writer (its pid is gone on this host) from files being
written right now, on this host or on another host of a shared filesystem: :func:`sweep_stale_temps`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asc.core.process import pid_alive

log = logging.getLogger(__name__)

HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
# Older versions wrote ".<name>.<pid>.<random>.tmp" (no host): those are treated as written on this host.
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:(?P<host>[0-9a-f]{6})-)?(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
DAY_S = 86_400.0


def temp_path(path: str | Path, pid: int | None = None) -> Path:
    """The hidden temporary sibling of ``path`` that this process (or ``pid``) writes before the rename."""
    path = Path(path)
    return path.with_name(
        f".{path.name}.{HOST}-{os.getpid() if pid is None else pid}.{uuid.uuid4().hex[:8]}.tmp"
    )


def final_name(path: str | Path) -> str:
    """The name a temp file of :func:`temp_path` will be renamed to (any other name unchanged)."""
    match = TEMP_NAME.match(Path(path).name)
    return match["name"] if match else Path(path).name


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary sibling of ``path`` to write; it replaces ``path`` only if the block succeeds
    (same folder, so the rename is atomic), and is removed if the block fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sweep_stale_temps(folder: str | Path, *, recursive: bool = False, max_age_s: float = DAY_S) -> list[Path]:
    """Remove the temp files that killed writers left in ``folder``; return what was removed.

    A temp file is stale when it was written on this host by a pid that no longer exists, or when it is older
    than ``max_age_s`` (whoever wrote it: a writer on another host of a shared filesystem that has not finished
    in a day is gone). Files of live writers are kept.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = list(folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"))
    removed, freed = [], 0
    now = time.time()
    for path in candidates:
        match = TEMP_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        here = match["host"] in (None, HOST)
        try:
            stat = path.stat()
            if (here and not pid_alive(int(match["pid"]))) or now - stat.st_mtime > max_age_s:
                path.unlink()
                freed += stat.st_size
                removed.append(path)
        except FileNotFoundError:  # renamed into place or removed by its writer meanwhile
            continue
    if removed:
        log.info(
            "removed %d temp file(s) (%.1f MB) left by killed writers in %s",
            len(removed),
            freed / 1e6,
            folder,
        )
    return removed
