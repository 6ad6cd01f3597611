"""What a stored artifact holds, recorded when it is published and checked whenever it is reused.

``manifest.json`` lists every file of the artifact with its size and SHA-256 (``files``). Reuse checks each file's
size at once (a stat: catches a deleted or truncated file) and its checksum when the file changed since it was last
verified: ``.verified.json`` caches each file's (size, mtime, inode) at the last successful check, so an untouched
store is verified by stats alone and a file written since (NaN bytes, a partial copy) is hashed again. SHA-256 runs
at about the speed of reading the file (TAU's 1.35 GB of features: about a second, once).

Manifests written before this record (no ``files``) are reused as they are, unverified: one log line says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from asc.core.atomic import atomic_write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VERIFIED = ".verified.json"  # the cache of the last successful check; not part of the artifact's content
CHUNK = 1 << 20


class DamagedArtifactError(ValueError):
    """A stored artifact whose files are not what was published (missing, truncated, changed); the message names
    the artifact, the file and what differs."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[str]:
    """Every regular file below ``folder`` (relative, '/'-separated), the manifest and the cache excepted."""
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if rel not in (MANIFEST, VERIFIED) and path.is_file() and not path.is_symlink():
            out.append(rel)
    return sorted(out)


def _stamp(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def record(folder: Path) -> dict[str, dict[str, Any]]:
    """The ``files`` entry of a manifest: ``{relative path: {"bytes": size, "sha256": hex}}``; also writes the
    check cache, since the files were just read."""
    files, stamps = {}, {}
    for rel in _files(folder):
        path = folder / rel
        stamps[rel] = _stamp(path)
        files[rel] = {"bytes": stamps[rel][0], "sha256": sha256(path)}
    _write_cache(folder, stamps)
    return files


def _write_cache(folder: Path, stamps: dict[str, list[int]]) -> None:
    try:
        atomic_write_json(folder / VERIFIED, stamps)
    except OSError as err:  # a read-only store: verified again next time
        log.debug("cannot cache the check of %s: %s", folder, err)


def read_manifest(folder: Path, label: str) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise DamagedArtifactError(
            f"{label}: {path} cannot be read ({err}); the artifact is damaged: delete {folder} and rerun to "
            "rebuild it"
        ) from err
    return manifest


def problem(folder: Path, manifest: dict[str, Any]) -> str | None:
    """Why the artifact in ``folder`` is not what its manifest records (one phrase naming the file), or None.
    Sizes always; checksums of the files changed since the last successful check (see the module docstring)."""
    files = manifest.get("files")
    if files is None:
        return None
    stamps: dict[str, list[int]] = {}
    reason = _size_problem(folder, files, stamps)
    if reason is not None:
        return reason
    try:
        cached = json.loads((folder / VERIFIED).read_text())
    except (OSError, ValueError):
        cached = {}
    changed = [rel for rel in files if cached.get(rel) != stamps[rel]]
    for rel in changed:
        if sha256(folder / rel) != files[rel]["sha256"]:
            return f"{rel} differs from what was written (SHA-256 mismatch: changed or damaged on disk)"
    if changed:
        _write_cache(folder, stamps)
    return None


def _size_problem(folder: Path, files: dict[str, Any], stamps: dict[str, list[int]]) -> str | None:
    """A file of the manifest's ``files`` missing or of another size than was written (one phrase), or None;
    fills ``stamps`` with each file's :func:`_stamp` as it goes."""
    for rel, entry in files.items():
        try:
            stamps[rel] = _stamp(Path(folder) / rel)
        except FileNotFoundError:
            return f"{rel} is missing"
        if stamps[rel][0] != entry["bytes"]:
            return f"{rel} has {stamps[rel][0]} bytes where {entry['bytes']} were written (truncated or replaced)"
    return None


def sizes_problem(folder: Path) -> str | None:
    """What a stat can tell without reading the files (for planning): an unreadable manifest, a file missing or
    of another size than was written; None when those hold (:func:`verify` also compares checksums)."""
    try:
        manifest = read_manifest(folder, str(folder))
        return _size_problem(folder, manifest.get("files") or {}, {})
    except DamagedArtifactError:
        return f"its {MANIFEST} cannot be read"
    except (KeyError, TypeError, AttributeError):
        return f"its {MANIFEST} lists the files in an unknown form"


def verify(folder: Path, label: str, *, fix: str = "") -> None:
    """Raise :class:`DamagedArtifactError` (one line naming the artifact, the file and what differs) unless the
    published artifact in ``folder`` holds what its manifest records. ``label``: the artifact, e.g.
    "train 1a2b3c4d5e6f (baseline seed 0)"."""
    manifest = read_manifest(folder, label)
    if "files" not in manifest:
        log.info("%s: %s predates file checksums; reused unverified", label, folder / MANIFEST)
        return
    try:
        reason = problem(folder, manifest)
    except (KeyError, TypeError, AttributeError) as err:
        reason = f"its {MANIFEST} lists the files in an unknown form ({type(err).__name__}: {err})"
    if reason is not None:
        raise DamagedArtifactError(
            f"{label}: the stored artifact {folder} is damaged: {reason}; "
            + (fix or f"delete {folder} and rerun to rebuild it")
        )
