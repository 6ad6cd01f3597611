"""Bring the real TAU 2020 Mobile development set into ``dataset.root``: download, verify, extract.

Archives are handled one at a time (fetch → extract → optionally delete), so with ``delete_archives`` the disk
never holds more than the extracted set plus one zip. A folder that already holds a complete copy needs no
download: set ``dataset.download=false`` (or point ``dataset.root`` at it; extracted archives are skipped).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asc.data.archive import extract, is_extracted
from asc.data.zenodo import archives_from_config, fetch

log = logging.getLogger(__name__)


def prepare_tau(cfg: Mapping[str, Any], progress: bool | None = None) -> Path:
    root = Path(cfg["root"])
    if not cfg.get("download", True):
        if not (root / "meta.csv").is_file():
            raise FileNotFoundError(
                f"dataset.download=false but {root} has no meta.csv; set dataset.root to the folder that holds "
                "meta.csv, audio/ and evaluation_setup/, or set dataset.download=true"
            )
        log.info("using the existing dataset in %s (dataset.download=false)", root)
        return root
    archives = archives_from_config(cfg["files"], list(cfg["archives"]))
    dest = Path(cfg["download_dir"])
    for archive in archives:
        if is_extracted(archive.name, root):
            log.info("%s already extracted into %s", archive.name, root)
            continue
        (zip_path,) = fetch([archive], cfg["base_url"], dest, retries=int(cfg.get("retries", 5)),
                            progress=progress, url_template=cfg.get("url_template", "{base_url}/{name}?download=1"))  # fmt: skip
        extract(zip_path, root, delete_after=bool(cfg.get("delete_archives", False)), progress=progress)
    return root
