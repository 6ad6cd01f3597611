"""Safe, resumable zip extraction.

Every member name is checked before anything is written, so a hostile or broken archive leaves the
target untouched. Members are written under a temporary name and renamed, so a file with its final name
is always complete; a marker ``target/.extracted/<zipname>`` records a finished extraction. Extraction of one
archive into one target holds a file lock (``target/.extracted/<zipname>.lock``), so concurrent jobs on one data
folder (a SLURM array) extract each file once and never rename each other's temporary files.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import stat
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from asc.core.atomic import sweep_stale_temps, temp_path
from asc.core.disk import explain_full_disk
from asc.core.locks import hold
from asc.core.progress import progress_bar, show_progress

log = logging.getLogger(__name__)

MARKER_DIR = ".extracted"
_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """A member would land outside the target folder (absolute path, drive letter or '..'), or is not a plain
    file or folder (symlink, device, FIFO, socket)."""


def file_lock(path: Path) -> AbstractContextManager:
    """The one place the data layer makes an inter-process lock (downloads and extraction): asc.core.locks' lock
    file, which names its holder while others wait and survives a dead holder on a shared filesystem (NFS).
    The folder is created so that the lock file can be."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return hold(path, what=Path(path).name.removesuffix(".lock").lstrip("."))


def is_extracted(zip_name: str | Path, target: Path) -> bool:
    """True when the archive called zip_name was completely extracted into target (even if since deleted)."""
    return (Path(target) / MARKER_DIR / Path(zip_name).name).is_file()


def is_being_extracted(zip_name: str | Path, target: Path) -> bool:
    """True while a job extracts the archive called zip_name into target (its lock file exists): its files may
    already all be there, its marker not yet."""
    return (Path(target) / MARKER_DIR / f"{Path(zip_name).name}.lock").is_file()


def extract(
    zip_path: Path,
    target: Path,
    *,
    strip_top: bool = True,
    delete_after: bool = False,
    progress: bool | None = None,
    open_zip: Callable[[Path], zipfile.ZipFile] = zipfile.ZipFile,
) -> Path:
    """Extract into target; returns target. Idempotent and resumable.

    With ``strip_top`` the single top-level folder that all members share is dropped (TAU zips all start
    with ``TAU-urban-acoustic-scenes-2020-mobile-development/``); it is an error if there is none.
    ``open_zip`` opens ``zip_path`` (a split archive's last file: :func:`asc.data.split_zip.open_split`).
    """
    zip_path, target = Path(zip_path), Path(target)
    if not is_extracted(zip_path.name, target):
        try:
            zf = open_zip(zip_path)
        except FileNotFoundError:
            if not is_extracted(zip_path.name, target):  # not deleted by a job that just extracted it
                raise
        else:
            with zf:
                plan = _plan(zf.infolist(), zip_path, strip_top)  # raises before anything is written
                # Another job may be extracting the same archive: wait for it, then find the marker.
                with file_lock(target / MARKER_DIR / f"{zip_path.name}.lock"):
                    if not is_extracted(zip_path.name, target):
                        sweep_stale_temps(target, recursive=True)  # members of a killed extraction
                        need = sum(i.file_size for i, _ in plan)
                        with explain_full_disk(target, f"the members of {zip_path.name}", need=need):
                            _extract_all(zf, plan, zip_path, target, show_progress(progress))
                        _maybe_delete(zip_path, delete_after)
                        return target
    log.info("skipped %s (already extracted into %s)", zip_path.name, target)
    _maybe_delete(zip_path, delete_after)
    return target


def _extract_all(
    zf: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, str]], zip_path: Path, target: Path, show: bool
) -> None:
    files = [(info, rel) for info, rel in plan if not info.is_dir()]
    skipped = 0
    with progress_bar(
        total=sum(info.file_size for info, _ in files),
        desc=f"extract {_label(zip_path.name)}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        show=show,
    ) as bar:
        for info, rel in plan:
            out = target.joinpath(*rel.split("/"))
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            # Files only get their final name once complete, so the right size means "done".
            if _is_plain_file(out, info.file_size):
                skipped += 1
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                _write_member(zf, info, out)
            bar.update(info.file_size)
    (target / MARKER_DIR / zip_path.name).write_text(f"{len(files)} files\n")
    resumed = f" (resumed: {skipped} of {len(files)} files were already there)" if skipped else ""
    log.info("extracted %s into %s (%d files)%s", zip_path.name, target, len(files), resumed)


def _is_plain_file(path: Path, size: int) -> bool:
    """A regular file (not a link to one) of ``size`` bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path) -> None:
    """Write one member under a fresh temp name and rename it to ``out``. The temp file is created new
    (O_EXCL, O_NOFOLLOW) under a name no other process can guess (asc.core.atomic.temp_path), so a link planted in the
    dataset folder is never written through; a killed run's leftover is swept by the next extraction."""
    out.with_name(f".{out.name}.extracting").unlink(missing_ok=True)  # the fixed temp name of older versions
    tmp = temp_path(out)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with zf.open(info) as src, os.fdopen(fd, "wb") as dst:
            _copy_member(src, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written litter in the dataset folder
        raise
    os.replace(tmp, out)


def _label(name: str) -> str:
    # "TAU-urban-...-development.audio.1.zip" -> "audio.1.zip": the shared dataset prefix only eats bar width.
    _, _, rest = name.partition(".")
    return rest if len(name) > 28 and "." in rest else name


def _copy_member(src: IO[bytes], dst: IO[bytes]) -> None:
    # zipfile checks the CRC when the member has been read to the end, so corruption raises here.
    shutil.copyfileobj(src, dst, _CHUNK)


def _maybe_delete(zip_path: Path, delete_after: bool) -> None:
    if delete_after and zip_path.exists():
        zip_path.unlink(missing_ok=True)  # a concurrent job may have deleted it a moment ago
        zip_path.with_name(zip_path.name + ".md5").unlink(missing_ok=True)  # its checksum cache
        log.info("deleted %s", zip_path)


def _plan(infos: list[zipfile.ZipInfo], zip_path: Path, strip_top: bool) -> list[tuple[zipfile.ZipInfo, str]]:
    """Validate every member name and map it to a safe relative path ('/'-separated)."""
    parts_of = []
    for info in infos:
        _check_type(info, zip_path)
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
    files = {rel for info, rel in plan if not info.is_dir()}
    for info, rel in plan:  # a file that is also a member's folder would fail half-way with FileExistsError
        clash = next((p for p in _parents(rel) if p in files), None)
        if clash:
            raise UnsafeArchiveError(
                f"{zip_path}: member {info.filename!r} lies below {clash!r}, which is a file"
            )
    return plan


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _check_type(info: zipfile.ZipInfo, zip_path: Path) -> None:
    """Only plain files and folders: a symlink would be written as a file holding its target path (or let a
    later member escape through it); devices, FIFOs and sockets have no place in a dataset. Zip has no hard-link
    entry; Info-ZIP's Unix mode (high 16 bits of external_attr) carries the type, 0 means "plain" (Windows)."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        what = {
            stat.S_IFLNK: "a symbolic link",
            stat.S_IFCHR: "a character device",
            stat.S_IFBLK: "a block device",
            stat.S_IFIFO: "a FIFO",
            stat.S_IFSOCK: "a socket",
        }.get(kind, f"of file type {oct(kind)}")
        raise UnsafeArchiveError(
            f"{zip_path}: member {info.filename!r} is {what}; only plain files and folders are extracted "
            "(is this the right archive? download it again from the dataset's record)"
        )
