"""Disk space: every stage's planned writes checked before anything is written, and a full disk met while writing
reported as one line naming the folder.

:func:`check_disk` adds the needs up per file system, so a short disk fails in the first second with what is
missing instead of half-way with ``Errno 28`` (or, for a memory-mapped write, a SIGBUS with no message). The
``*_bytes`` helpers estimate what a stage writes; :func:`explain_full_disk` turns ENOSPC/EDQUOT raised by a write
into :class:`DiskFullError` naming the folder and the space it needed.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from asc.core.atomic import temp_path
from asc.core.errors import InputError

MARGIN = 256 << 20  # head-room left on every file system the plan writes to
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)  # no space left; disk quota exceeded (a cluster's per-user quota)

# What the estimates add per artifact besides the arrays: .npy headers, stats.npz, CSV indexes, manifest.json.
ARTIFACT_OVERHEAD = 1 << 20
# A torch checkpoint of a state dict: the float32 tensors plus zip and pickle framing, measured at 8 KB for the
# baseline CNN's model.pt and 7 KB per state dict in its last.pt (torch 2.x); twice that, to spare.
CHECKPOINT_OVERHEAD = 16 << 10
# While a model trains, <work>/last.pt holds the model, Adam's two moments and the best epoch's weights (4 copies of
# the parameters, asc/training/train_state.py); the published model.pt is written beside it before it is removed
# (asc/pipeline/publish.py): 5 copies per training artifact. Each epoch's new last.pt is written beside the old one
# before the rename (4 copies more), one run at a time: a transient, counted once per file system (:class:`Need`).
RESUME_COPIES = 4
TRAINING_COPIES = RESUME_COPIES + 1
# One results row: the metrics and cost columns plus the kept-filter indices and L1 norms as text (about 3 KB
# for the baseline CNN's 160 filters), counted once in row.json, once in results.csv and once in its rewrite.
ROW_BYTES = 16 << 10

DATASET_FIX = (
    "set dataset.delete_archives=true (each zip is deleted once extracted: saves 27 GB on TAU), or point "
    "paths.data (or dataset.root / dataset.download_dir) at a larger disk"
)


@dataclass(frozen=True)
class Need:
    """Bytes the plan will write under ``path``; ``what``: a short description for the error; ``fix``: how to
    make room other than freeing space (e.g. "point paths.store at a larger disk"), or "" for the generic hint;
    ``transient``: bytes written only for a moment on top (one at a time: :func:`planned_bytes` adds the
    largest of a file system's, not their sum)."""

    path: Path
    bytes: int
    what: str
    fix: str = ""
    transient: int = 0  # written beside and removed again (a checkpoint's next version): the largest counts
    artifact: str = ""  # the planned step's id: cross-validation folds that share an artifact count it once


class DiskSpaceError(OSError):
    """The plan does not fit on the disks it writes to (raised before anything is written)."""


class DiskFullError(OSError):
    """A write met a full disk or an exhausted quota (ENOSPC/EDQUOT); the message names the folder and the need."""


def human_bytes(n: float) -> str:
    """A byte count in the largest binary unit that keeps it below 1024, e.g. "1.5 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def feature_bytes(clips: int, *, n_mels: int = 40, frames: int = 500, itemsize: int = 4) -> int:
    """A features artifact: ``clips`` × ``n_mels`` × ``frames`` values of ``itemsize`` bytes (float32: 4) plus
    headers, indexes and statistics. TAU fold1 (13,962 + 2,968 clips, 40 × 500): 1.35 GB."""
    return int(clips) * int(n_mels) * int(frames) * int(itemsize) + ARTIFACT_OVERHEAD


def checkpoint_bytes(params: int, *, itemsize: int = 4) -> int:
    """One checkpoint (``model.pt``) of a model with ``params`` parameters of ``itemsize`` bytes."""
    return int(params) * int(itemsize) + CHECKPOINT_OVERHEAD


def model_artifact_bytes(params: int, *, trains: bool, positions: int = 0, itemsize: int = 4) -> int:
    """What a model artifact holds at its peak, the transient of :func:`rewrite_bytes` aside: where its stage
    ``trains`` (train, finetune, perdevice, an iterative-pruning step's short fine-tuning) the resume checkpoint
    (with the run's ``positions``: its training examples' indices, int64) and the published model
    (:data:`TRAINING_COPIES`), else (a pruned network, a baseline read from ``train.init_from``) the published model
    only; plus its metrics and row."""
    if not trains:
        return checkpoint_bytes(params, itemsize=itemsize) + ROW_BYTES
    return TRAINING_COPIES * checkpoint_bytes(params, itemsize=itemsize) + 8 * int(positions) + ROW_BYTES


def rewrite_bytes(params: int, *, positions: int = 0, itemsize: int = 4) -> int:
    """The next version of a training run's resume checkpoint, written beside the old one before the rename
    (:data:`RESUME_COPIES` and the run's ``positions``, int64): a :attr:`Need.transient`."""
    return RESUME_COPIES * checkpoint_bytes(params, itemsize=itemsize) + 8 * int(positions)


def results_bytes(rows: int) -> int:
    """What recording ``rows`` results rows adds (row.json, results.csv and the rewrite beside it)."""
    return int(rows) * ROW_BYTES


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def _device(path: Path) -> int:
    """The file system a folder (or the nearest existing parent of one still to be made) lives on."""
    return os.stat(_existing(path)).st_dev


def mount_point(path: str | Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    p = _existing(Path(path))
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: str | Path) -> int:
    """Free bytes (for this user) on the file system holding ``path`` or its nearest existing parent."""
    return shutil.disk_usage(_existing(Path(path))).free


def planned_bytes(needs: Sequence[Need]) -> int:
    """What ``needs`` (of one file system) take at the peak: their bytes, plus the largest transient (written one
    at a time)."""
    return sum(n.bytes for n in needs) + max((n.transient for n in needs), default=0)


def check_disk(plan: Sequence[Need], *, margin: int = MARGIN) -> None:
    """Raise one DiskSpaceError naming every file system whose free space is short of what the plan writes there
    (needs under folders on one device are added up, the largest transient on top, plus ``margin``) and how to
    make room."""
    by_fs: dict[int, list[Need]] = {}
    for need in plan:
        if need.bytes > 0 or need.transient > 0:
            by_fs.setdefault(_device(need.path), []).append(need)
    short, fixes = [], []
    for needs in by_fs.values():
        total, free = planned_bytes(needs) + margin, free_bytes(needs[0].path)
        if free < total:
            parts = [f"{human_bytes(n.bytes)} for {n.what} in {n.path}" for n in needs if n.bytes > 0]
            peak = max(needs, key=lambda n: n.transient)
            if peak.transient:
                parts.append(f"{human_bytes(peak.transient)} while a checkpoint of {peak.what} is rewritten")
            short.append(
                f"need {human_bytes(total)} ({' + '.join(parts)} + {human_bytes(margin)} margin), "
                f"free {human_bytes(free)}"
            )
            fixes += [n.fix or f"point the setting that names {n.path} at a larger disk" for n in needs]
    if short:
        raise DiskSpaceError(
            "not enough free disk space for what this run writes: "
            + "; ".join(short)
            + ". Free some space, or "
            + "; or ".join(dict.fromkeys(fixes))
        )


def full_disk_message(folder: str | Path, what: str, need: int | None = None) -> str:
    """The one line for a write into ``folder`` that met a full disk or quota."""
    free = free_bytes(folder)
    needed = f"; it needs {human_bytes(need)}" if need else ""
    return (
        f"the disk holding {folder} is full or over quota while writing {what}{needed}, "
        f"{human_bytes(free)} free; free space (`df -h {folder}`, `quota -s`) or point that folder's setting "
        "at a larger disk, then rerun (finished artifacts are kept)"
    )


@contextmanager
def explain_full_disk(folder: str | Path, what: str, need: int | None = None) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised in the block into a :class:`DiskFullError` naming ``folder``, ``what`` was being
    written and the ``need`` in bytes (when known); other errors pass unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as err:
        if err.errno not in FULL_ERRNOS:
            raise
        full = DiskFullError(full_disk_message(folder, what, need))
        full.errno = err.errno  # kept for callers that test it; str() stays the one line
        raise full from err


def check_writable(folder: str | Path, *, what: str, setting: str = "") -> None:
    """Raise :class:`asc.core.errors.InputError` (one line naming the folder, why and the fix) unless this process can
    create files in ``folder`` (or, while it does not exist yet, in its nearest existing parent, where it will be
    made). Probes with a real file (created O_EXCL, removed at once): permission bits alone miss read-only mounts,
    ACLs and root squashing on NFS. ``what``: e.g. "the results folder"; ``setting``: the config key naming it."""
    folder = Path(folder)
    existing = _existing(folder)
    where = f"{what} {folder}" + (f" ({setting})" if setting else "")
    fix = f"point {setting} at a folder this job can write" if setting else "use a folder this job can write"
    if not existing.is_dir():
        raise InputError(f"{where}: {existing} is a file, not a folder; {fix}")
    probe = temp_path(existing / "asc-write-probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as err:
        why = "a read-only file system" if err.errno == errno.EROFS else err.strerror
        raise InputError(
            f"{where} is not writable ({why}, found at {existing}); {fix}, or fix its permissions "
            "(checked before any stage runs, so nothing was built)"
        ) from err


def reserve(fd: int, size: int) -> None:
    """Allocate ``size`` bytes of the open file ``fd`` now (``posix_fallocate``), so that a full disk fails here
    with ENOSPC instead of later, and a memory-mapped write into it can never meet a full disk (SIGBUS). File
    systems without fallocate (some NFS) are left to the writes themselves."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in FULL_ERRNOS:
            raise
    except AttributeError:  # no posix_fallocate on this platform (macOS)
        pass
