"""Bring the real TAU 2020 Mobile development set into ``dataset.root``: download, verify, extract.

Kept archives are all fetched first (so the free-space check covers the whole download), then extracted; with
``delete_archives`` each is fetched, extracted and deleted in turn, so the disk never holds more than the
extracted set plus one zip. A folder that already holds a complete copy needs no
download: point ``dataset.root`` at it (a folder that holds every listed clip is used as it is), or set
``dataset.download=false`` to never download.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from asc.data.archive import extract, is_extracted
from asc.data.tau import REQUIRED
from asc.data.zenodo import archives_from_config, fetch

log = logging.getLogger(__name__)


def is_complete(root: Path) -> bool:
    """True when root has the metadata and every clip that fold1_train/fold1_evaluate list (a finished copy)."""
    if not all((root / name).is_file() for name in REQUIRED):
        return False
    for fold in ("train", "evaluate"):
        listed = pd.read_csv(root / f"evaluation_setup/fold1_{fold}.csv", sep="\t", usecols=["filename"])
        if not all((root / f).is_file() for f in listed["filename"]):
            return False
    return True


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
    if is_complete(root):
        log.info("%s already holds every clip its fold files list; nothing to download", root)
        return root
    archives = [
        a for a in archives_from_config(cfg["files"], list(cfg["archives"])) if not is_extracted(a.name, root)
    ]
    if not archives:
        log.info("all selected archives are already extracted into %s", root)
        return root
    dest, delete = Path(cfg["download_dir"]), bool(cfg.get("delete_archives", False))
    options = {"retries": int(cfg.get("retries", 5)), "progress": progress,
               "url_template": cfg.get("url_template", "{base_url}/{name}?download=1")}  # fmt: skip
    # Keeping the zips: fetch them all first, so the free-space check covers the whole download up front.
    # Deleting them: one at a time, so the disk never holds more than the extracted set plus one zip.
    batches = [[a] for a in archives] if delete else [archives]
    for batch in batches:
        for zip_path in fetch(batch, cfg["base_url"], dest, **options):
            extract(zip_path, root, delete_after=delete, progress=progress)
    return root
