"""Fingerprints of user-supplied files: an artifact made from a file is keyed on its bytes, never its path."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes: keys a store entry on a given model file's content, not its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
