"""The report's record, ``report.json`` beside its tables: what the report was drawn from and the files it wrote, so that
a run whose report would come out the same writes nothing (asc/report/write.py, :func:`~asc.report.write.update_report`).

A report is a function of its inputs (:func:`drawn_from`): the bytes of the results table, of ``latency.csv`` (measured
once and reused) and of the per-epoch histories the training curves read (``metrics.json`` beside each row's
checkpoint: keyed artifacts, but one may be absent on this machine, or rebuilt), the figures' options
(``runtime.figures``), the code that draws it (every source file of the asc package: the tables also use asc/nets,
asc/deploy and asc/data) and the versions of the libraries that draw and format it. The record holds them with every
file written and its size. The report is up to date (:func:`current`) when the inputs are the record's and every file
it lists is there with its size. The record is removed before a report is written (:func:`forget`) and written last,
atomically (:func:`keep`), so a report killed half-way is never taken for a complete one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from asc.core.atomic import atomic_write_json
from asc.core.provenance import version
from asc.report.figure_output import FigureOutput

__all__ = ["RECORD_FILE", "current", "drawn_from", "forget", "keep"]

RECORD_FILE = "report.json"
FORMAT = 1  # the record's own layout: another one is never current
LIBRARIES = (
    "matplotlib",
    "numpy",
    "pandas",
    "scipy",
)  # they draw the figures and compute and format the tables
SOURCE = Path(__file__).resolve().parents[1]  # the asc package this process runs


def _digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes, None when it is absent or cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@functools.cache
def code_digest() -> str:
    """SHA-256 over the name and bytes of every ``.py`` file of the asc package (computed once per process)."""
    h = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*.py")):
        h.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def drawn_from(
    results: Path, latency: Path, histories: Iterable[Path], figures: FigureOutput
) -> dict[str, Any]:
    """What decides a report's content (see the module), as JSON values: ``results`` the results table,
    ``latency`` its ``latency.csv`` (absent: none), ``histories`` the ``metrics.json`` files its training curves
    read (absent ones count as absent), ``figures`` the figures' formats and resolution."""
    h = hashlib.sha256()
    for path in sorted({str(p) for p in histories}):
        h.update(f"{path}\0{_digest(Path(path))}\0".encode())
    return {
        "format": FORMAT,
        "results": _digest(results),
        "latency": _digest(latency),
        "histories": h.hexdigest(),
        "figures": {"formats": list(figures.formats), "dpi": int(figures.dpi)},
        "code": code_digest(),
        "libraries": {name: version(name) for name in LIBRARIES},
    }


def current(out_dir: Path, inputs: Mapping[str, Any]) -> dict[str, list[Path]] | None:
    """The report in ``out_dir`` ({name: its files}, as :func:`~asc.report.write.write_report` returns them) when
    its record says it was drawn from ``inputs`` and every file it lists is there with the size it had; else None
    (no record, an unreadable one, other inputs, a file missing or of another size)."""
    try:
        record = json.loads((Path(out_dir) / RECORD_FILE).read_text(encoding="utf-8"))
        if record["inputs"] != dict(inputs):
            return None
        written = {
            name: [Path(out_dir) / entry["path"] for entry in entries]
            for name, entries in record["files"].items()
        }
        sizes = [entry["size"] for entries in record["files"].values() for entry in entries]
        paths = [path for files in written.values() for path in files]
        if any(path.stat().st_size != size for path, size in zip(paths, sizes, strict=True)):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return written


def forget(out_dir: Path) -> None:
    """Remove the record: the report in ``out_dir`` is about to be rewritten."""
    (Path(out_dir) / RECORD_FILE).unlink(missing_ok=True)


def keep(out_dir: Path, inputs: Mapping[str, Any], written: Mapping[str, list[Path]]) -> None:
    """Record that the report ``written`` ({name: its files} under ``out_dir``) was drawn from ``inputs``: written
    last, atomically, after every file of the report."""
    out_dir = Path(out_dir)
    files = {
        name: [{"path": p.relative_to(out_dir).as_posix(), "size": p.stat().st_size} for p in paths]
        for name, paths in written.items()
    }
    atomic_write_json(out_dir / RECORD_FILE, {"inputs": dict(inputs), "files": files})
