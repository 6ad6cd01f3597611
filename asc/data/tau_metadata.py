"""Reading and checking the metadata files of a TAU-layout dataset (meta.csv, evaluation_setup/fold1_*.csv).

Format (:func:`read_table`): what common tools write when they re-save the same table is read as that table — a
UTF-8 byte-order mark (Excel, Windows Notepad), quoted header names and fields (R's ``write.table``, pandas
``quoting``), CRLF line ends. Anything else that differs from the tab-separated layout is a :class:`CsvFormatError`
naming the file, the line and exactly what differs (the header's columns as they really are, repr'd).

Content (:func:`check_folds`): a clip listed twice in a fold or in meta.csv, a clip in both fold1_train and
fold1_evaluate, a fold entry that meta.csv does not list, an unknown scene, a scene label on which the fold file,
meta.csv and the file name disagree, and a device (meta.csv's source_label) that the file name contradicts are each
a :class:`MetadataError` naming the file, the line and the clip (a meta.csv fault at its meta.csv line). Fold entries whose audio is
absent are not an error here: a partial download (``dataset.archives`` subset) is a supported case, and
:func:`asc.data.tau.read_folds` excludes them with a warning.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from asc.core.errors import InputError

# The columns each metadata file must have (docs: TAU file list); more columns are allowed.
COLUMNS = {
    "meta.csv": ("filename", "scene_label", "identifier", "source_label"),
    "evaluation_setup/fold1_train.csv": ("filename", "scene_label"),
    "evaluation_setup/fold1_evaluate.csv": ("filename", "scene_label"),
    "evaluation_setup/fold1_test.csv": ("filename",),
}
FIX = (
    "fix that line (in a copy asc downloaded, restore the file instead: delete "
    "<root>/.extracted/<prefix>meta.zip and rerun)"
)


class CsvFormatError(InputError):
    """A metadata file is not the tab-separated table the TAU layout has (message: file, line, what differs)."""


class MetadataError(InputError):
    """A metadata file is well-formed but wrong in content (message: file, line, clip, what is wrong)."""


def _near_miss(want: str, header: list[str]) -> str:
    """What a header column that was meant to be ``want`` really is, if one is recognisably it."""
    for got in header:
        if got != want and got.strip().strip("\"'").strip().lower() == want:
            return f"{got!r} is not {want!r}"
    return ""


def _separator_hint(line: str) -> str:
    for sep, name in ((",", "comma"), (";", "semicolon")):
        if "\t" not in line and sep in line:
            return f" (it looks {name}-separated)"
    return ""


def _next_row(reader, path: Path, fmt: str) -> list[str] | None:
    start = reader.line_num + 1
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as e:  # a quote opened and never closed swallows the rest of the file
        raise CsvFormatError(f"{path}, line {start}: a quoted field is never closed ({e}); {fmt}") from None


def read_table(root: Path, name: str) -> pd.DataFrame:
    """Read one of the TAU metadata files (``name`` is a key of COLUMNS) as strings, checking its format:
    tab-separated, a header row holding the expected columns, every row as many fields as the header, no empty
    value in an expected column. A BOM, quoted names or fields and CRLF line ends are read as the same data.
    The index holds each row's line number in the file (1 = the header). Any other deviation is a
    CsvFormatError naming the file, the line and what differs."""
    path, expected = root / name, COLUMNS[name]
    fmt = f"expected a tab-separated file whose header row has the columns {' <TAB> '.join(expected)}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; {root} is not a complete TAU-layout dataset") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFormatError(f"{path}: UTF-16 text (Excel's 'Unicode Text'); save it as UTF-8; {fmt}")
    try:
        text = raw.decode("utf-8-sig")  # a leading byte-order mark is no part of the first column's name
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CsvFormatError(
            f"{path}, line {line}: not UTF-8 text ({e.reason} at byte {e.start}; re-save the file as UTF-8); {fmt}"
        ) from None
    lines = text.splitlines()  # \n, \r\n and \r alike
    if not lines:
        raise CsvFormatError(f"{path} is empty; {fmt}")
    reader = csv.reader(lines, delimiter="\t", quotechar='"', strict=True)
    header = _next_row(reader, path, fmt)
    missing = [c for c in expected if c not in header]
    if missing:
        near = "; ".join(filter(None, (_near_miss(c, header) for c in missing)))
        raise CsvFormatError(
            f"{path}, line 1: the header's columns are {header!r}, without {', '.join(missing)}"
            f"{' (' + near + ')' if near else ''}{_separator_hint(lines[0])}; {fmt}"
        )
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise CsvFormatError(f"{path}, line 1: the header names {', '.join(map(repr, twice))} twice; {fmt}")
    at = [header.index(c) for c in expected]
    rows, numbers = [], []
    while (fields := _next_row(reader, path, fmt)) is not None:
        number = reader.line_num
        if not fields or not "".join(fields).strip():  # a blank (e.g. trailing) line holds no clip
            continue
        shown = lines[number - 1][:120]
        if len(fields) != len(header):
            raise CsvFormatError(
                f"{path}, line {number}: {len(fields)} field(s) where the header has {len(header)} "
                f"({shown!r}); {fmt}"
            )
        empty = [expected[k] for k, i in enumerate(at) if not fields[i].strip()]
        if empty:
            raise CsvFormatError(f"{path}, line {number}: empty {', '.join(empty)} ({shown!r}); {fmt}")
        if "\\" in fields[at[0]]:
            raise CsvFormatError(
                f"{path}, line {number}: the file name {fields[at[0]]!r} uses '\\' (a Windows path); TAU's "
                "names are relative paths with '/' (audio/<name>.wav): replace the backslashes"
            )
        rows.append(fields)
        numbers.append(number)
    return pd.DataFrame(rows, columns=header, index=pd.Index(numbers, name="line"), dtype=str)


def check_folds(root: Path, meta: pd.DataFrame, folds: Mapping[str, pd.DataFrame], scenes: list[str]) -> None:
    """The content checks of the module docstring, on tables from :func:`read_table` (``folds``: train and
    evaluate). ``scenes`` are the valid scene labels. Raises MetadataError for the first problem found."""
    meta_at = _meta_lines(root, meta, scenes)
    seen: dict[str, tuple[str, int]] = {}
    for split, fold in folds.items():
        name = f"evaluation_setup/fold1_{split}.csv"
        where = root / name
        for line, filename, scene in zip(fold.index, fold["filename"], fold["scene_label"], strict=True):
            clip = f"{where}, line {line}: {filename}"
            if filename in seen:
                other, first = seen[filename]
                if other == split:
                    raise MetadataError(f"{clip} is listed again (first at line {first}); delete one; {FIX}")
                raise MetadataError(
                    f"{clip} is also in {root / f'evaluation_setup/fold1_{other}.csv'} (line {first}): a clip "
                    f"cannot be in fold1_train and fold1_evaluate; {FIX}"
                )
            seen[filename] = (split, int(line))
            if scene not in scenes:
                raise MetadataError(f"{clip}: unknown scene {scene!r} (valid: {', '.join(scenes)}); {FIX}")
            named = Path(filename).name.split("-")[0]
            if named != scene:
                raise MetadataError(
                    f"{clip}: scene_label {scene!r} disagrees with the file name ({named!r}); {FIX}"
                )
            if filename not in meta_at:  # (meta.csv's own scene already agrees with the name: so does this)
                raise MetadataError(f"{clip} is not listed in {root / 'meta.csv'}; {FIX}")


def _meta_lines(root: Path, meta: pd.DataFrame, scenes: list[str]) -> set[str]:
    """The clips meta.csv lists, after checking each of its lines on its own: listed once, a known scene, and
    the scene, the city (identifier's first field) and the device (source_label) that its file name says
    (docs/tau2020_mobile.md: ``<scene>-<city>-…-<device>.wav``), so a wrong label is named at its meta.csv
    line, not at a fold file's. The rest of the identifier is not checked: TAU 2022's was never seen."""
    where = root / "meta.csv"
    out: dict[str, int] = {}
    for line, filename, scene, identifier, device in zip(
        meta.index,
        meta["filename"],
        meta["scene_label"],
        meta["identifier"],
        meta["source_label"],
        strict=True,
    ):
        clip = f"{where}, line {line}: {filename}"
        if filename in out:
            raise MetadataError(f"{clip} is listed again (first at line {out[filename]}); {FIX}")
        if scene not in scenes:
            raise MetadataError(f"{clip}: unknown scene {scene!r} (valid: {', '.join(scenes)}); {FIX}")
        named = Path(filename).stem.split("-")
        if named[0] != scene:
            raise MetadataError(
                f"{clip}: scene_label {scene!r} disagrees with the file name ({named[0]!r}); {FIX}"
            )
        if len(named) > 1 and identifier.split("-")[0] != named[1]:  # city-location (TAU 2020; 2022 unseen)
            raise MetadataError(
                f"{clip}: identifier {identifier!r} names another city than the file name ({named[1]!r}); {FIX}"
            )
        if named[-1] != device:
            raise MetadataError(
                f"{clip}: source_label {device!r} disagrees with the file name's device ({named[-1]!r}); {FIX}"
            )
        out[filename] = int(line)
    return set(out)
