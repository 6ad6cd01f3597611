"""What keys a dataset folder the user brings (the dataset step's artifact key; asc/data/layouts.py names each
layout's): its files' content where that is cheap, their names and sizes where it is not.

Each key function takes the layout's metadata files (paths relative to ``dataset.root``) and the dataset config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def listing_key(metadata: Sequence[str], d: Mapping[str, Any]) -> dict[str, Any]:
    """The SHA-256 of each ``metadata`` file (paths relative to ``dataset.root``) and a listing (relative path,
    size) of every other file."""
    from asc.data.fingerprint import file_digest

    root = Path(d["root"])
    meta = {m: file_digest(root / m) for m in metadata if (root / m).is_file()}
    listing = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(root).as_posix()
        if rel not in meta:
            listing.update(f"{rel}\t{path.stat().st_size}\n".encode())
    return {"name": d["name"], "metadata": meta, "listing_sha256": listing.hexdigest()}


def h5_key(metadata: Sequence[str], d: Mapping[str, Any]) -> dict[str, Any]:
    """AudioSet's HDF5 files by name, size and the SHA-256 of their clip names and targets (the waveforms are
    tens of GB; a changed clip list or label changes the key). ``metadata``: none (the files are the index)."""
    from asc.data.audioset_hdf5 import check_folder

    check_folder(d)  # the files and their layout first: a bad file is named in one line, not by h5py
    root = Path(d["root"])
    return {
        "name": d["name"],
        "files": {str(n): _h5_digest(root / str(n)) for n in dict(d["files"]).values()},
    }


def _h5_digest(path: Path) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as f:
        h = hashlib.sha256(f["audio_name"][:].tobytes())
        h.update(f["target"][:].tobytes())
        return {"bytes": path.stat().st_size, "names_targets_sha256": h.hexdigest()}
