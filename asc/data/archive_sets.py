"""Download of the archive-published sets beyond TAU 2020 (ESC-50, TUT 2018, FSD50K): the same machinery as TAU.

Each archive is fetched (resumable, size + MD5 checked, :mod:`asc.data.zenodo`), extracted under its lock
(:func:`asc.data.prepare.prepare_archive`, :mod:`asc.data.archive`), and the finished folder is checked by the
dataset's own index check. A value the config cannot vouch for (an archive whose MD5 is ``null`` because no
public source gave it) is refused before anything is fetched: bring the folder instead (``dataset.download=false``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError

log = logging.getLogger(__name__)


def unverified(d: Mapping[str, Any]) -> list[str]:
    """The selected archives whose size or MD5 the config leaves null (unknown)."""
    files = d.get("files") or {}
    return [
        a for a in d.get("archives") or [] if not (files.get(a) or {}).get("md5") or not files[a].get("bytes")
    ]


def check_download(d: Mapping[str, Any]) -> None:
    """Planning: a download needs every selected archive's size and MD5 (one line naming what lacks them)."""
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
    from asc.data.zenodo import archives_from_config

    root = Path(d["root"])
    if complete(root):
        return root
    check_download(d)
    if not d.get("download", True):
        raise ConfigError(
            f"dataset.root={root} does not hold {d['name']} (dataset.download=false); point it there"
        )
    root.mkdir(parents=True, exist_ok=True)
    for a in archives_from_config(d["files"], list(d["archives"])):
        prepare_archive(
            a,
            root=root,
            download_dir=Path(d["download_dir"]),
            base_url=str(d["base_url"]),
            delete=bool(d.get("delete_archives", False)),
            retries=int(d.get("retries", 5)),
            progress=progress,
            url_template=str(d.get("url_template", "{base_url}/{name}?download=1")),
        )
    return root
