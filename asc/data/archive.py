"""Safe, resumable zip extraction.

Every member name is checked before anything is written, so a hostile or broken archive leaves the
target untouched. Members are written under a temporary name and renamed, so a file with its final name
is always complete; a marker ``target/.extracted/<zipname>`` records a finished extraction.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import zipfile
from pathlib import Path
from typing import IO

from tqdm.auto import tqdm

from asc.progress import show_progress

log = logging.getLogger(__name__)

MARKER_DIR = ".extracted"
_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """A member would land outside the target folder (absolute path, drive letter or '..')."""


def is_extracted(zip_name: str | Path, target: Path) -> bool:
    """True when the archive called zip_name was completely extracted into target (even if since deleted)."""
    return (Path(target) / MARKER_DIR / Path(zip_name).name).is_file()


def extract(
    zip_path: Path,
    target: Path,
    *,
    strip_top: bool = True,
    delete_after: bool = False,
    progress: bool | None = None,
) -> Path:
    """Extract into target; returns target. Idempotent and resumable.

    With ``strip_top`` the single top-level folder that all members share is dropped (TAU zips all start
    with ``TAU-urban-acoustic-scenes-2020-mobile-development/``); it is an error if there is none.
    """
    zip_path, target = Path(zip_path), Path(target)
    marker = target / MARKER_DIR / zip_path.name
    if marker.is_file():
        log.info("skipped %s (already extracted into %s)", zip_path.name, target)
        _maybe_delete(zip_path, delete_after)
        return target

    show = show_progress(progress)
    with zipfile.ZipFile(zip_path) as zf:
        plan = _plan(zf.infolist(), zip_path, strip_top)  # raises before anything is written
        files = [(info, rel) for info, rel in plan if not info.is_dir()]
        target.mkdir(parents=True, exist_ok=True)
        skipped = 0
        with tqdm(
            total=sum(info.file_size for info, _ in files),
            desc=f"extract {_label(zip_path.name)}",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not show,
        ) as bar:
            for info, rel in plan:
                out = target.joinpath(*rel.split("/"))
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                # Files only get their final name once complete, so the right size means "done".
                if out.is_file() and out.stat().st_size == info.file_size:
                    skipped += 1
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_name(f".{out.name}.extracting")
                    try:
                        with zf.open(info) as src, open(tmp, "wb") as dst:
                            _copy_member(src, dst)
                    except BaseException:
                        tmp.unlink(missing_ok=True)  # no half-written litter in the dataset folder
                        raise
                    os.replace(tmp, out)
                bar.update(info.file_size)

    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{len(files)} files\n")
    if skipped:
        log.info(
            "extracted %s into %s (resumed: %d of %d files were already there)",
            zip_path.name,
            target,
            skipped,
            len(files),
        )
    else:
        log.info("extracted %s into %s (%d files)", zip_path.name, target, len(files))
    _maybe_delete(zip_path, delete_after)
    return target


def _label(name: str) -> str:
    # "TAU-urban-...-development.audio.1.zip" -> "audio.1.zip": the shared dataset prefix only eats bar width.
    _, _, rest = name.partition(".")
    return rest if len(name) > 28 and "." in rest else name


def _copy_member(src: IO[bytes], dst: IO[bytes]) -> None:
    # zipfile checks the CRC when the member has been read to the end, so corruption raises here.
    shutil.copyfileobj(src, dst, _CHUNK)


def _maybe_delete(zip_path: Path, delete_after: bool) -> None:
    if delete_after and zip_path.exists():
        zip_path.unlink()
        log.info("deleted %s", zip_path)


def _plan(infos: list[zipfile.ZipInfo], zip_path: Path, strip_top: bool) -> list[tuple[zipfile.ZipInfo, str]]:
    """Validate every member name and map it to a safe relative path ('/'-separated)."""
    parts_of = []
    for info in infos:
        name = info.filename.replace("\\", "/")  # zips made on Windows may use backslashes
        if name.startswith("/") or re.match(r"[A-Za-z]:", name):
            raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} has an absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} contains '..'")
        parts_of.append(parts)

    if strip_top:
        tops = {parts[0] for parts in parts_of if parts}
        # Every file must sit below the common folder (a file *named* like it would be dropped).
        if len(tops) != 1 or any(
            len(p) == 1 and not i.is_dir() for i, p in zip(infos, parts_of, strict=True)
        ):
            raise ValueError(
                f"{zip_path}: strip_top=True but the members do not share one top folder ({sorted(tops)[:5]})"
            )
        parts_of = [parts[1:] for parts in parts_of]

    plan = []
    for info, parts in zip(infos, parts_of, strict=True):
        if not parts:  # the top folder itself
            continue
        rel = posixpath.join(*parts)
        if rel == MARKER_DIR or rel.startswith(MARKER_DIR + "/"):
            raise UnsafeArchiveError(
                f"{zip_path}: member {info.filename!r} would overwrite the extraction markers"
            )
        plan.append((info, rel))
    return plan
