"""Fingerprints of user-supplied files and folders: an artifact made from them is keyed on what they hold, never
on their path (moving a file or folder keeps every key; changing what it holds changes them)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from asc.core.errors import InputError

# The parts of a TAU-layout folder the pipeline reads (asc/data/tau.py): these files' bytes are the metadata.
METADATA_FILES = ("meta.csv",)
METADATA_DIRS = ("evaluation_setup",)
AUDIO_DIR = "audio"


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes: keys a store entry on a given model file's content, not its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(folder: Path, rel: str) -> list[tuple[str, os.DirEntry]]:
    """(relative path with '/', entry) of every file below ``folder`` (symlinks followed, hidden names skipped:
    they are our own markers and temp files, never data), sorted by path so the listing is the same everywhere."""
    found: list[tuple[str, os.DirEntry]] = []
    stack = [(folder, rel)]
    while stack:
        path, prefix = stack.pop()
        try:
            entries = list(os.scandir(path))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = f"{prefix}/{entry.name}"
            if entry.is_dir():
                stack.append((Path(entry.path), name))
            elif entry.is_file():  # a broken link is no file: read_folds treats its clip as absent too
                found.append((name, entry))
    return sorted(found, key=lambda item: item[0])


def _table_digest(root: Path, rel: str) -> str:
    """A metadata file by what it says: the columns asc reads, as the TAU layout's reader parses them, so a file
    re-saved by a spreadsheet or R (BOM, quotes, CRLF, blank lines, extra columns) keys like the original; a file
    the reader does not know, or cannot read (the index's check names what is wrong with it), by its bytes."""
    from asc.data.tau_metadata import COLUMNS, CsvFormatError, read_table

    if rel not in COLUMNS:
        return file_digest(root / rel)
    try:
        table = read_table(root, rel)[list(COLUMNS[rel])]
    except CsvFormatError:
        return file_digest(root / rel)
    return hashlib.sha256(table.to_csv(index=False, sep="\t").encode("utf-8")).hexdigest()


def folder_identity(root: str | Path, *, full_hash: bool = False) -> dict[str, Any]:
    """What a user-supplied dataset folder in the TAU layout holds, as a JSON-able dict for an artifact key.

    Covered: what ``meta.csv`` and every file under ``evaluation_setup/`` say (:func:`_table_digest`); the relative
    path and size in bytes of every file under ``audio/`` (one ``os.scandir``/``stat`` per file, no audio read:
    ~23k files take well under a second). With ``full_hash=True`` every audio file's SHA-256 too (reads all of
    it: ~30 GB for TAU). Not covered: the folder's own path (moving or copying the folder keeps the identity),
    modification times (``cp`` does not keep them), names starting with '.' (asc's extraction markers and temp
    files), any other file (README, LICENSE: never read). So adding, removing, renaming or resizing a clip, or
    editing any metadata file, changes the identity; an in-place edit of a WAV that keeps its size is seen only
    with ``full_hash``.

    Returns ``{"metadata": {relpath: sha256}, "audio": {"files": n, "bytes": total, "content": "size" | "sha256",
    "listing_sha256": hex}}``, the listing being one ``path<TAB>size[<TAB>sha256]`` line per audio file, sorted.
    Raises InputError when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            f"dataset folder {root} does not exist or is not a folder; point dataset.root at the folder that "
            "holds meta.csv, evaluation_setup/ and audio/"
        )
    metadata = {name: _table_digest(root, name) for name in METADATA_FILES if (root / name).is_file()}
    for folder in METADATA_DIRS:
        metadata.update({rel: _table_digest(root, rel) for rel, _ in _files_under(root / folder, folder)})
    listing = hashlib.sha256()
    count = total = 0
    for rel, entry in _files_under(root / AUDIO_DIR, AUDIO_DIR):
        size = entry.stat().st_size
        line = f"{rel}\t{size}" + (f"\t{file_digest(entry.path)}" if full_hash else "")
        listing.update(line.encode("utf-8") + b"\n")
        count, total = count + 1, total + size
    audio = {
        "files": count,
        "bytes": total,
        "content": "sha256" if full_hash else "size",
        "listing_sha256": listing.hexdigest(),
    }
    return {"metadata": dict(sorted(metadata.items())), "audio": audio}
