"""Archives known by name, size and MD5, and the checks of the files on disk against them.

A download in progress lives in ``<name>.part``. A verified file gets a sidecar ``<name>.md5`` that caches
its checksum together with size and mtime, so that later runs can skip multi-gigabyte files without re-hashing
them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    name: str  # file name, e.g. "TAU-urban-acoustic-scenes-2020-mobile-development.meta.zip"
    bytes: int
    md5: str

    def __post_init__(self) -> None:
        # The name becomes a path under dest: refuse anything that is not a plain file name.
        if not self.name or "/" in self.name or "\\" in self.name or self.name in {".", ".."}:
            raise ValueError(f"archive name must be a plain file name, got {self.name!r}")
        if self.bytes < 0:
            raise ValueError(f"{self.name}: negative size {self.bytes}")
        if not re.fullmatch(r"[0-9a-f]{32}", self.md5):
            raise ValueError(f"{self.name}: md5 must be 32 lower-case hex digits, got {self.md5!r}")


def md5_update(h: Any, path: Path) -> Any:
    """Feed a file into a hash object; the only place that re-reads files (tests patch it)."""
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h


def part_path(dest: Path, a: Archive) -> Path:
    """Where the download of ``a`` into dest grows until it is verified and renamed."""
    return dest / f"{a.name}.part"


def file_size(path: Path) -> int:
    """Size of path in bytes; 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def resumable_bytes(dest: Path, a: Archive) -> int:
    """Bytes of ``a``'s part file a download can resume from: 0 when there is none or it is too long."""
    size = file_size(part_path(dest, a))
    return size if size <= a.bytes else 0


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".md5")


def write_sidecar(path: Path, md5: str) -> None:
    """Cache path's MD5 with its size and mtime in ``<name>.md5`` (written atomically)."""
    st = path.stat()
    side = _sidecar(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps({"md5": md5, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")
    os.replace(tmp, side)


def verified(path: Path, a: Archive) -> bool:
    """True when path holds the archive. Cheap checks first: size, then the cached MD5 (if size and
    mtime still match); only without a valid cache is the file hashed, once."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != a.bytes:
        log.warning("%s has %d bytes, expected %d: downloading it again", a.name, st.st_size, a.bytes)
        path.unlink()
        return False
    try:
        cached = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        cached = None
    if cached == {"md5": a.md5, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}:
        return True
    log.info("verifying %s (no valid checksum cache)", a.name)
    actual = md5_update(hashlib.md5(), path).hexdigest()
    if actual != a.md5:
        log.warning("%s: md5 %s, expected %s: downloading it again", a.name, actual, a.md5)
        path.unlink()
        _sidecar(path).unlink(missing_ok=True)
        return False
    write_sidecar(path, actual)
    return True
