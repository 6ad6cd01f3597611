"""Bring the real TAU 2020 Mobile development set into ``dataset.root``: download, verify, extract.

The whole disk plan (downloads still missing, extraction, features) is checked up front, per file system, so a
short disk fails in the first second with what is missing instead of half-way with ``Errno 28``. Then each
archive is fetched, extracted (and with ``delete_archives`` deleted) in turn, under a per-archive lock, so
concurrent jobs on one data folder (a SLURM array) download and extract every archive once; with
``delete_archives`` the disk never holds more than the extracted set plus one zip. A folder that already holds a
complete copy needs no download: point ``dataset.root`` at it, or set ``dataset.download=false``.
"""

from __future__ import annotations

import functools
import logging
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.disk import DATASET_FIX, Need, check_disk, feature_bytes
from asc.data.archive import _plan, extract, file_lock, is_extracted
from asc.data.checksums import Archive, resumable_bytes
from asc.data.split_zip import open_split
from asc.data.tau import REQUIRED, read_table
from asc.data.zenodo import archives_from_config, fetch

log = logging.getLogger(__name__)

# Extracted size of an archive the config gives none for: TAU's WAVs deflate by ~10 %, so 1.15 x the zip.
FALLBACK_RATIO = 1.15


def is_complete(root: Path) -> bool:
    """True when root has the metadata and every clip that fold1_train/fold1_evaluate list (a finished copy)."""
    if not all((root / name).is_file() for name in REQUIRED):
        return False
    for fold in ("train", "evaluate"):
        listed = read_table(root, f"evaluation_setup/fold1_{fold}.csv")
        if not all((root / f).is_file() for f in listed["filename"]):
            return False
    return True


def extraction_bytes(a: Archive, *, root: Path, download_dir: Path, estimate: int | None) -> int:
    """Bytes extracting ``a`` into root still adds: from the zip's central directory (minus members already
    there) when the zip is downloaded, else ``estimate`` (the config's ``extracted``) or 1.15 x the zip."""
    if is_extracted(a.name, root):
        return 0
    zip_path = download_dir / a.name
    if zip_path.is_file() and zip_path.stat().st_size == a.bytes:
        with zipfile.ZipFile(zip_path) as zf:
            plan = _plan(zf.infolist(), zip_path, strip_top=True)
        return sum(i.file_size for i, rel in plan if not i.is_dir() and not _present(root / rel, i.file_size))
    return int(estimate) if estimate is not None else math.ceil(a.bytes * FALLBACK_RATIO)


def _present(path: Path, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size


def disk_plan(
    archives: Sequence[Archive],
    *,
    root: Path,
    download_dir: Path,
    extracted: Mapping[str, int],
    delete_archives: bool,
    features_dir: Path | None = None,
    features: int = 0,
) -> list[Need]:
    """What still has to be written, and where, to fetch and extract ``archives`` and build ``features`` bytes
    of features. ``extracted`` maps an archive's file name to its estimated extracted size. With
    ``delete_archives`` only the largest missing zip is on disk at a time."""
    todo = [a for a in archives if not is_extracted(a.name, root)]
    missing = [a.bytes - downloaded_bytes(download_dir, a) for a in todo]
    unpack = sum(
        extraction_bytes(a, root=root, download_dir=download_dir, estimate=extracted.get(a.name))
        for a in todo
    )
    plan = []
    if any(missing):
        n = sum(m > 0 for m in missing)
        plan.append(
            Need(
                download_dir,
                max(missing) if delete_archives else sum(missing),
                "the largest zip still to download (delete_archives=true)"
                if delete_archives
                else f"{n} zip(s) still to download",
                DATASET_FIX,
            )
        )
    if unpack:
        plan.append(Need(root, unpack, f"extracting {len(todo)} archive(s)", DATASET_FIX))
    if features_dir is not None and features:
        plan.append(Need(features_dir, features, "features", "point paths.data at a larger disk"))
    return plan


def downloaded_bytes(dest: Path, a: Archive) -> int:
    """Bytes of ``a`` already in ``dest``: all of them when the verified-size file is there, else what its
    resumable ``.part`` holds."""
    final = dest / a.name
    if final.is_file() and final.stat().st_size == a.bytes:
        return a.bytes
    return resumable_bytes(dest, a)


def _feature_clips(cfg: Mapping[str, Any], archives: Sequence[Archive], extracted: Mapping[str, int]) -> int:
    """Clips that will get features: the fold1 train + evaluate counts, scaled by the share of the audio the
    selected archives hold (a partial download indexes what is there)."""
    audio = [a for a in archives_from_config(cfg["files"], _audio_keys(cfg["files"]))]
    share = sum(extracted.get(a.name, a.bytes) for a in archives if a in audio) / max(
        sum(extracted.get(a.name, a.bytes) for a in audio), 1
    )
    return math.ceil(sum(int(v) for v in dict(cfg.get("expected_counts") or {}).values()) * share)


def _audio_keys(files: Mapping[str, Any]) -> list[str]:
    return [str(k) for k, v in files.items() if isinstance(v, Mapping) and str(k).startswith("audio")]


def download_needs(cfg: Mapping[str, Any]) -> list[Need]:
    """The disk space that bringing ``cfg``'s archives into ``dataset.root`` still takes (downloads and
    extraction; nothing once the folder is complete), for the planning-time disk check."""
    root = Path(cfg["root"])
    if not cfg.get("download", True) or is_complete(root):
        return []
    archives = [
        a for a in archives_from_config(cfg["files"], list(cfg["archives"])) if not is_extracted(a.name, root)
    ]
    return disk_plan(
        archives,
        root=root,
        download_dir=Path(cfg["download_dir"]),
        extracted=_extracted_sizes(cfg["files"]),
        delete_archives=bool(cfg.get("delete_archives", False)),
    )


def download_bytes(cfg: Mapping[str, Any]) -> tuple[int, int]:
    """(bytes still to download, archives) for ``cfg``'s selection (the dataset config): archives neither
    extracted into ``dataset.root`` nor downloaded, less what a resumable ``.part`` already holds."""
    root, dest = Path(cfg["root"]), Path(cfg["download_dir"])
    if not cfg.get("download", True) or is_complete(root):
        return 0, 0
    todo = [
        a for a in archives_from_config(cfg["files"], list(cfg["archives"])) if not is_extracted(a.name, root)
    ]
    left = [a.bytes - downloaded_bytes(dest, a) for a in todo]
    return sum(left), sum(1 for n in left if n > 0)


def prepare_tau(
    cfg: Mapping[str, Any],
    progress: bool | None = None,
    *,
    features_dir: Path | None = None,
    n_mels: int = 40,
    frames: int = 500,
) -> Path:
    """Download and extract what ``cfg`` (the dataset config) selects; returns the dataset root. With
    ``features_dir`` the disk check also covers the features that will be written there."""
    root = Path(cfg["root"])
    if not cfg.get("download", True):
        if not (root / "meta.csv").is_file():
            raise FileNotFoundError(
                f"dataset.download=false but {root} has no meta.csv; set dataset.root to the folder that holds "
                "meta.csv, audio/ and evaluation_setup/, or set dataset.download=true"
            )
        log.info("using the existing dataset in %s (dataset.download=false)", root)
        return root
    selected = archives_from_config(cfg["files"], list(cfg["archives"]))
    dest, delete = Path(cfg["download_dir"]), bool(cfg.get("delete_archives", False))
    if delete:
        delete_extracted_zips(selected, root=root, download_dir=dest)
    if is_complete(root):
        log.info("%s already holds every clip its fold files list; nothing to download", root)
        return root
    archives = [a for a in selected if not is_extracted(a.name, root)]
    if not archives:
        log.info("all selected archives are already extracted into %s", root)
        return root
    extracted = _extracted_sizes(cfg["files"])
    clips = _feature_clips(cfg, selected, extracted) if features_dir is not None else 0
    check_disk(
        disk_plan(
            archives,
            root=root,
            download_dir=dest,
            extracted=extracted,
            delete_archives=delete,
            features_dir=features_dir,
            features=feature_bytes(clips, n_mels=n_mels, frames=frames),
        )
    )
    options = {
        "retries": int(cfg.get("retries", 5)),
        "progress": progress,
        "url_template": cfg.get("url_template", "{base_url}/{name}?download=1"),
    }
    for a in archives:
        prepare_archive(a, root=root, download_dir=dest, base_url=cfg["base_url"], delete=delete, **options)
    return root


def delete_extracted_zips(archives: Sequence[Archive], *, root: Path, download_dir: Path) -> list[Path]:
    """With ``delete_archives``: delete the zips (and their checksum caches) of archives already extracted into
    root. A job killed between an archive's extraction marker and the deletion of its zip left one behind, and
    the next run skips that archive entirely; this is where it goes. Returns what was deleted."""
    gone = []
    for a in archives:
        zip_path = Path(download_dir) / a.name
        if is_extracted(a.name, root) and zip_path.is_file():
            zip_path.unlink(missing_ok=True)
            zip_path.with_name(zip_path.name + ".md5").unlink(missing_ok=True)
            log.info("deleted %s (extracted into %s; dataset.delete_archives=true)", zip_path, root)
            gone.append(zip_path)
    return gone


def prepare_archive(
    a: Archive,
    *,
    root: Path,
    download_dir: Path,
    base_url: str,
    delete: bool,
    parts: Sequence[Archive] = (),
    strip_top: bool = True,
    **fetch_options: Any,
) -> None:
    """Fetch, extract and (with ``delete``) delete one archive, holding its lock throughout: a second job
    waits, then finds it extracted, and never re-downloads a zip the first one deleted. With ``parts`` ``a`` is
    the last file of a split archive: its parts (each resumed and MD5-checked on its own) are fetched first and
    the members read in place across them (asc.data.split_zip); with ``delete`` the parts go too."""
    with file_lock(Path(download_dir) / f".{a.name}.lock"):
        if not is_extracted(a.name, root):
            *_, zip_path = fetch([*parts, a], base_url, download_dir, **fetch_options)
            opener = functools.partial(open_split, parts=len(parts)) if parts else zipfile.ZipFile
            progress = fetch_options.get("progress")
            extract(
                zip_path, root, strip_top=strip_top, delete_after=delete, progress=progress, open_zip=opener
            )
        else:
            log.info("skipped %s (already extracted into %s)", a.name, root)
        if delete:  # a split archive's parts (also those a job killed after its extraction left behind)
            for part in parts:
                (Path(download_dir) / part.name).unlink(missing_ok=True)
                (Path(download_dir) / f"{part.name}.md5").unlink(missing_ok=True)


def _extracted_sizes(files: Mapping[str, Any]) -> dict[str, int]:
    prefix, suffix = str(files.get("prefix", "")), str(files.get("suffix", ".zip"))
    return {
        f"{prefix}{k}{suffix}": int(v["extracted"])
        for k, v in files.items()
        if isinstance(v, Mapping) and "extracted" in v
    }
