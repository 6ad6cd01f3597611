"""Download of the archive-published sets beyond TAU 2020 (ESC-50, TUT 2018, FSD50K): the same machinery as TAU.

Each archive is fetched (resumable, size + MD5 checked, :mod:`asc.data.zenodo`), extracted under its lock
(:func:`asc.data.prepare.prepare_archive`, :mod:`asc.data.archive`), and the finished folder is checked by the
dataset's own index check. A value the config cannot vouch for (an archive whose MD5 is ``null`` because no
public source gave it) is refused before anything is fetched: bring the folder instead (``dataset.download=false``).

A split archive (FSD50K's audio: an entry with ``parts: n``, its parts ``<key>_z01`` … entries of their own, each
with its size and MD5) is fetched part by part, each resumed and checked on its own, then read in place across
the parts (:mod:`asc.data.split_zip`, nothing joined on disk). ``dataset.archives`` lists the parts with their
archive; a part missing there, or listed without its archive, is refused at planning in one line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asc.core.disk import DATASET_FIX, Need, check_disk
from asc.core.errors import ConfigError
from asc.data.checksums import Archive
from asc.data.zenodo import archives_from_config, file_names, split_parts

log = logging.getLogger(__name__)


def unverified(d: Mapping[str, Any]) -> list[str]:
    """The selected archives whose size or MD5 the config leaves null (unknown)."""
    files = d.get("files") or {}
    return [
        a for a in d.get("archives") or [] if not (files.get(a) or {}).get("md5") or not files[a].get("bytes")
    ]


def check_parts(d: Mapping[str, Any]) -> None:
    """Planning: every part of a selected split archive is selected and declared, and no part is selected without
    its archive (ConfigError, one line naming the part and the fix)."""
    files, selected = d.get("files") or {}, [str(a) for a in d.get("archives") or []]
    for key, parts in split_parts(files).items():
        undeclared = [p for p in parts if not isinstance(files.get(p), Mapping)]
        if undeclared:
            raise ConfigError(
                f"dataset.files.{key} is split into {len(parts)} part(s) + the .zip, but dataset.files has no "
                f"{', '.join(undeclared)}; declare each part with its bytes and md5"
            )
        unselected = [p for p in parts if p not in selected]
        if key in selected and unselected:
            raise ConfigError(
                f"dataset.archives={selected} selects {key} without its part(s) {', '.join(unselected)}; add them "
                "(the archive is read across all its parts)"
            )
        alone = [p for p in parts if p in selected]
        if key not in selected and alone:
            raise ConfigError(
                f"dataset.archives={selected} selects {', '.join(alone)}, part(s) of {key}, without {key}; add {key} "
                "or drop its parts"
            )


def groups(d: Mapping[str, Any]) -> list[tuple[Archive, list[Archive]]]:
    """The selected archives in order, each with the parts it is read across (none for a plain zip)."""
    files, keys = d["files"], list(dict.fromkeys(str(a) for a in d["archives"]))
    by_key = dict(zip(keys, archives_from_config(files, keys), strict=True))
    parts = split_parts(files)
    member = {p for ps in parts.values() for p in ps}
    return [(a, [by_key[p] for p in parts.get(k, [])]) for k, a in by_key.items() if k not in member]


def download_needs(d: Mapping[str, Any]) -> list[Need]:
    """What fetching and extracting the selected archives still writes: the downloads (every part of a split
    archive; with ``delete_archives`` only the largest archive with its parts at a time) under
    ``dataset.download_dir``, and the extracted files under ``dataset.root`` (``extracted`` of an entry when
    given, else 1.15 x the compressed bytes). Nothing is joined on disk, so nothing transient on top."""
    from asc.data.archive import is_extracted
    from asc.data.prepare import FALLBACK_RATIO, downloaded_bytes

    root, dest, files = Path(d["root"]), Path(d["download_dir"]), d["files"]
    names = {v: k for k, v in file_names(files).items()}
    todo = [(a, parts) for a, parts in groups(d) if not is_extracted(a.name, root)]
    missing = [sum(x.bytes - downloaded_bytes(dest, x) for x in (*parts, a)) for a, parts in todo]
    unpack = sum(
        int(
            files[names[a.name]].get("extracted")
            or math.ceil(FALLBACK_RATIO * sum(x.bytes for x in (*parts, a)))
        )
        for a, parts in todo
    )
    delete = bool(d.get("delete_archives", False))
    plan = []
    if any(missing):
        what = (
            "the largest archive (with its parts) still to download"
            if delete
            else f"the {d['name']} archives"
        )
        plan.append(Need(dest, max(missing) if delete else sum(missing), what, DATASET_FIX))
    if unpack:
        plan.append(Need(root, unpack, f"extracting {len(todo)} {d['name']} archive(s)", DATASET_FIX))
    return plan


def check_download(d: Mapping[str, Any]) -> None:
    """Planning: a download needs every selected archive's size and MD5, and a split archive all its parts (one
    line naming what lacks them)."""
    if d.get("download", True):
        check_parts(d)
    lacking = unverified(d)
    if d.get("download", True) and lacking:
        raise ConfigError(
            f"dataset.files of {d['name']} give no size/MD5 for {', '.join(lacking)} (no public source verified "
            "them); set them in the config, or bring the extracted folder: dataset.download=false "
            f"dataset.root=<folder>"
        )


def prepare(d: Mapping[str, Any], complete: Callable[[Path], bool], *, progress: bool | None = None) -> Path:
    """Bring the dataset into ``dataset.root``: nothing when ``complete(root)`` holds, else fetch and extract
    every selected archive (locks, resume, MD5), then ``complete`` must hold. Returns the root.
    Raises ConfigError (unverified archives), asc.data.http_download.DownloadError, InputError."""
    from asc.data.prepare import prepare_archive

    root = Path(d["root"])
    if complete(root):
        return root
    check_download(d)
    if not d.get("download", True):
        raise ConfigError(
            f"dataset.root={root} does not hold {d['name']} (dataset.download=false); point it there"
        )
    root.mkdir(parents=True, exist_ok=True)
    check_disk(download_needs(d))
    for a, parts in groups(d):
        prepare_archive(
            a,
            root=root,
            download_dir=Path(d["download_dir"]),
            base_url=str(d["base_url"]),
            delete=bool(d.get("delete_archives", False)),
            parts=parts,
            strip_top=bool(d.get("strip_top", True)),
            retries=int(d.get("retries", 5)),
            progress=progress,
            url_template=str(d.get("url_template", "{base_url}/{name}?download=1")),
        )
    return root
