"""Resumable, verified downloads of Zenodo-style records (one URL per file, known size and MD5).

``fetch`` brings a record's archives into one folder, under a lock, skipping those already verified, after
checking that the disk has room for what is still missing. How one archive is downloaded (Range resume,
retries, MD5 while streaming) is ``asc.data.http_download``; how a file on disk is checked against its size
and MD5, with the ``<name>.md5`` sidecar that saves re-hashing multi-gigabyte files, is ``asc.data.checksums``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core import disk
from asc.core.progress import show_progress
from asc.data import checksums
from asc.data.archive import file_lock
from asc.data.checksums import Archive
from asc.data.http_download import byte_bar, download_archive

log = logging.getLogger(__name__)


def archives_from_config(files: Mapping[str, Any], selected: Sequence[str]) -> list[Archive]:
    """Build archives from a config table ``{prefix, [suffix], <key>: {bytes, md5}, ...}``.

    The file name is ``prefix + key + suffix`` (suffix defaults to ".zip"); ``selected`` lists keys. The parts of
    a split archive (an entry with ``parts: n``, :func:`split_parts`) are the entries ``<key>_z01`` … and their
    files ``prefix + key + ".z01"`` …, as Info-ZIP names them.
    """
    names = file_names(files)
    table = {str(k): v for k, v in files.items() if isinstance(v, Mapping)}
    if isinstance(selected, str):  # a bare string would otherwise be iterated character by character
        selected = [selected]
    keys = list(dict.fromkeys(str(s) for s in selected))
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise ValueError(f"unknown archive name(s) {unknown}; valid names: {', '.join(table)}")
    out = []
    for key in keys:
        spec = table[key]
        if "bytes" not in spec or "md5" not in spec:
            raise ValueError(f"archive {key!r} needs both 'bytes' and 'md5' in the config")
        out.append(Archive(names[key], int(spec["bytes"]), str(spec["md5"]).lower()))
    return out


def split_parts(files: Mapping[str, Any]) -> dict[str, list[str]]:
    """{key of a split archive's final .zip: the keys of its parts in disk order} for the entries of ``files``
    that declare ``parts: n`` (``<key>_z01`` … ``<key>_z{n:02d}``)."""
    return {
        str(k): [f"{k}_z{i:02d}" for i in range(1, int(v["parts"]) + 1)]
        for k, v in files.items()
        if isinstance(v, Mapping) and v.get("parts")
    }


def file_names(files: Mapping[str, Any]) -> dict[str, str]:
    """{entry key: file name}: ``prefix + key + suffix``; a split archive's part ``<key>_zNN``:
    ``prefix + key + ".zNN"``."""
    prefix, suffix = str(files.get("prefix", "")), str(files.get("suffix", ".zip"))
    names = {str(k): f"{prefix}{k}{suffix}" for k, v in files.items() if isinstance(v, Mapping)}
    for key, parts in split_parts(files).items():
        names.update({part: f"{prefix}{key}.z{i:02d}" for i, part in enumerate(parts, start=1)})
    return names


def fetch(
    archives: Sequence[Archive],
    base_url: str,
    dest: Path,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool | None = None,
    url_template: str = "{base_url}/{name}?download=1",
) -> list[Path]:
    """Download every archive into dest (verified), skipping those already verified; returns final paths.

    ``retries`` is the number of consecutive tries *without progress* before giving up on a file (a try
    that adds bytes to the part file resets the count, so a flaky link still finishes a 2 GB file).
    """
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    show = show_progress(progress)
    base_url = base_url.rstrip("/")
    unique = list({a.name: a for a in archives}.values())

    # One fetch per folder at a time: parallel Hydra jobs would otherwise write the same part files.
    with file_lock(dest / ".fetch.lock"):
        todo = []
        for a in unique:
            if checksums.verified(dest / a.name, a):
                log.info("skipped %s (already downloaded and verified)", a.name)
            else:
                todo.append(a)
        _check_disk(todo, dest)
        done = sum(a.bytes for a in unique) - sum(a.bytes - checksums.resumable_bytes(dest, a) for a in todo)
        with byte_bar(sum(a.bytes for a in unique), done, "download", show, leave=True) as overall:
            for a in todo:
                url = url_template.format(base_url=base_url, name=urllib.parse.quote(a.name))
                download_archive(
                    a, url, dest, overall, retries=retries, backoff=backoff, timeout=timeout, show=show
                )
    return [dest / a.name for a in archives]


def _check_disk(todo: Sequence[Archive], dest: Path) -> None:
    """What is still to download into ``dest`` (the part files' bytes counted as done) as one
    :class:`asc.core.disk.Need`, checked as every planned write is (DiskSpaceError, one line)."""
    missing = sum(a.bytes - checksums.resumable_bytes(dest, a) for a in todo)
    what = f"{len(todo)} archive(s) still to download"
    disk.check_disk(
        [disk.Need(dest, missing, what, "point dataset.download_dir (or paths.data) at a larger disk")]
    )
