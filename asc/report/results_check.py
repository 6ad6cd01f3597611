"""The results table checked as a file before anything reads or appends to it: a table that is empty, ragged, in
another encoding or lacks the key columns is named with its line, before any stage runs, instead of failing every
later job after training with pandas' "No columns to parse from file"."""

from __future__ import annotations

import codecs
import csv
import io
import math
from pathlib import Path

from asc.core.errors import InputError

KEY_COLUMNS = ("run_id", "stage")  # what appending (replace by run_id) and every view need
NUMERIC = {
    "accuracy": (0.0, 1.0),
    "log_loss": (0.0, math.inf),
    "mAP": (0.0, 1.0),  # tagging (asc.data.tasks.TAGGING)
    "auc": (0.0, 1.0),
}  # what every table and comparison computes with
BOMS = {codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16", codecs.BOM_UTF32_LE: "UTF-32"}


class ResultsTableError(InputError):
    """The results table cannot be read or appended to; the message names the file, the line and the fix."""


def _fix(path: Path, *, line: bool = True) -> str:
    return (
        ("repair that line, or " if line else "")
        + f"move {path.name} aside: rerunning the experiments records their rows again from the store (nothing is "
        "retrained)"
    )


def check_results_table(path: str | Path) -> None:
    """Raise :class:`ResultsTableError` (one line: file, line, what is wrong, the fix) unless ``path`` is absent
    or a comma-separated UTF-8 table whose header has the key columns and whose every row has the header's
    number of fields. Reads the whole file (results tables are small: ~3 KB per row)."""
    path = Path(path)
    text = _text_of(path)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        _check_header(path, header, text)
        _check_rows(path, header, reader)
    except csv.Error as err:
        raise ResultsTableError(
            f"results table {path}, line {reader.line_num}: not a readable CSV row ({err}); {_fix(path)}"
        ) from None


def _text_of(path: Path) -> str | None:
    """The table's text: None when there is no file; ResultsTableError when it cannot be read, is UTF-16/32
    (a spreadsheet's save), is not UTF-8 or is empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ResultsTableError(
            f"results table {path} cannot be read ({err.strerror}); {_fix(path)}"
        ) from err
    for bom, name in BOMS.items():
        if data.startswith(bom):
            raise ResultsTableError(
                f"results table {path} is {name} text, asc writes and reads UTF-8 (was it saved by a spreadsheet?); "
                f"save it as UTF-8 CSV, or {_fix(path, line=False)}"
            )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ResultsTableError(
            f"results table {path}, line {line}: not UTF-8 text (byte {err.start}: {err.reason}); {_fix(path)}"
        ) from None
    if not text.strip():
        raise ResultsTableError(f"results table {path} is empty (no header line); {_fix(path, line=False)}")
    return text


def _check_header(path: Path, header: list[str], text: str) -> None:
    """ResultsTableError unless the header has the key columns (saying when it is semicolon-separated)."""
    missing = [c for c in KEY_COLUMNS if c not in header]
    if missing:
        first = text.splitlines()[0]
        why = (
            "it is semicolon-separated (a spreadsheet's re-save); asc writes commas"
            if ";" in first and "," not in first
            else "not an asc results table"
        )
        raise ResultsTableError(
            f"results table {path}, line 1: the header {','.join(header)[:80]!r} lacks the column(s) "
            f"{', '.join(missing)}: {why}; {_fix(path)}"
        )


def _check_rows(path: Path, header: list[str], reader) -> None:
    """ResultsTableError at the first row that is ragged, repeats a run or holds a number out of its range."""
    seen: dict[str, int] = {}
    numeric = [(c, header.index(c)) for c in NUMERIC if c in header]
    for fields in reader:
        if not fields:
            continue
        line = reader.line_num
        if len(fields) != len(header):
            raise ResultsTableError(
                f"results table {path}, line {line}: {len(fields)} field(s) where the header has "
                f"{len(header)} (a ragged row: cut off or edited by hand); {_fix(path)}"
            )
        run_id = fields[header.index("run_id")]
        if run_id in seen:  # appends replace a run's row: two rows of one run were written by hand
            raise ResultsTableError(
                f"results table {path}, line {line}: run {run_id} again (first at line {seen[run_id]}), "
                f"which would count as two repeats; {_fix(path)}"
            )
        seen[run_id] = line
        for column, at in numeric:
            low, high = NUMERIC[column]
            if fields[at] and not (_is_number(fields[at]) and low <= float(fields[at]) <= high):
                raise ResultsTableError(
                    f"results table {path}, line {line}: {column}={fields[at]!r} is not a number in "
                    f"[{low:g}, {high:g}]; {_fix(path)}"
                )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
