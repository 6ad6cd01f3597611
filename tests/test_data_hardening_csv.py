"""Malformed metadata CSVs (issue 11, item 8): one error naming the file, the line and the expected format."""

from __future__ import annotations

from pathlib import Path

import pytest

from asc.core.errors import InputError
from asc.data.prepare import is_complete
from asc.data.tau import COLUMNS, CsvFormatError, MetadataError, build_index, read_table

FOLD = "evaluation_setup/fold1_train.csv"
GOOD = {
    "meta.csv": "filename\tscene_label\tidentifier\tsource_label\n"
    "audio/airport-lisbon-1000-40000-a.wav\tairport\tlisbon-1000\ta\n"
    "audio/bus-paris-10-400-s1.wav\tbus\tparis-10\ts1\n",
    FOLD: "filename\tscene_label\naudio/airport-lisbon-1000-40000-a.wav\tairport\n",
    "evaluation_setup/fold1_evaluate.csv": "filename\tscene_label\naudio/bus-paris-10-400-s1.wav\tbus\n",
    "evaluation_setup/fold1_test.csv": "filename\naudio/bus-paris-10-400-s1.wav\n",
}


def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for name, text in GOOD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_good_files_read(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    for name, columns in COLUMNS.items():
        table = read_table(root, name)
        assert list(table.columns) == list(columns) and len(table) >= 1


@pytest.mark.parametrize(
    ("name", "text", "line", "says"),
    [
        (FOLD, "filename,scene_label\naudio/airport-lisbon-1000-40000-a.wav,airport\n", 1, "comma-separated"),
        (
            FOLD,
            "filename\tlabel\naudio/airport-lisbon-1000-40000-a.wav\tairport\n",
            1,
            "without scene_label",
        ),
        (FOLD, "filename\tscene_label\naudio/a-b-1-2-a.wav\tairport\taudio/x.wav\n", 2, "3 field(s)"),
        (
            FOLD,
            "filename\tscene_label\naudio/airport-lisbon-1000-40000-a.wav\tairport\naudio/x.wav\n",
            3,
            "1 field(s)",
        ),
        (FOLD, "filename\tscene_label\n\tairport\n", 2, "empty filename"),
        (
            "meta.csv",
            "filename,scene_label,identifier,source_label\naudio/x.wav,airport,lisbon-1,a\n",
            1,
            "comma-separated",
        ),
        (
            "meta.csv",
            "filename\tscene_label\tidentifier\naudio/x.wav\tairport\tlisbon-1\n",
            1,
            "source_label",
        ),
        (
            "meta.csv",
            GOOD["meta.csv"] + "audio/y.wav\tbus\tparis-10\n",
            4,
            "3 field(s) where the header has 4",
        ),
    ],
)
def test_malformed_csv_names_file_line_and_format(
    tmp_path: Path, name: str, text: str, line: int, says: str
) -> None:
    root = dataset(tmp_path)
    (root / name).write_text(text)
    with pytest.raises(CsvFormatError) as err:
        build_index(root, {}, seed=0)
    message = str(err.value)
    assert f"{root / name}, line {line}:" in message
    assert says in message
    assert "tab-separated" in message and " <TAB> ".join(COLUMNS[name]) in message


def test_is_complete_reports_a_malformed_fold_file(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    (root / FOLD).write_text("filename,scene_label\naudio/x.wav,airport\n")
    with pytest.raises(CsvFormatError, match="fold1_train.csv, line 1"):
        is_complete(root)


def test_not_utf8_is_named(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    (root / "meta.csv").write_bytes(b"filename\tscene_label\xff\n")
    with pytest.raises(CsvFormatError, match="meta.csv, line 1: not UTF-8"):
        read_table(root, "meta.csv")


# ---------------------------------------------------------------- re-saved by common tools (issue 17, item 3)

META = "meta.csv"
A = "audio/airport-lisbon-1000-40000-a.wav"
B = "audio/bus-paris-10-400-s1.wav"
C = "audio/tram-paris-10-500-b.wav"
EVAL = "evaluation_setup/fold1_evaluate.csv"


def _resaved(text: str, how: str) -> bytes:
    """``text`` (tab-separated) as a tool re-saves it: a BOM (Excel, Notepad), quoted names and fields (R's
    write.table, pandas quoting=csv.QUOTE_ALL), CRLF line ends (Windows), or all of them."""
    if how in ("quoted", "all"):
        text = "\n".join("\t".join(f'"{f}"' for f in line.split("\t")) for line in text.splitlines()) + "\n"
    if how in ("crlf", "all"):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if how in ("bom", "all") else data


def with_audio(root: Path) -> Path:
    (root / "audio").mkdir(exist_ok=True)
    for wav in (A, B, C):
        (root / wav).write_bytes(b"")
    return root


@pytest.mark.parametrize("how", ["bom", "quoted", "crlf", "all"])
def test_resaved_metadata_reads_as_the_same_data(tmp_path: Path, how: str) -> None:
    root = with_audio(dataset(tmp_path))
    before = build_index(root, {}, seed=0)
    for name in GOOD:
        (root / name).write_bytes(_resaved(GOOD[name], how))
        assert read_table(root, name).equals(read_table(dataset(tmp_path / "ref"), name))
    assert build_index(root, {}, seed=0).equals(before)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "Filename\tscene_label\n",
            r"the header's columns are \['Filename', 'scene_label'\], without filename "
            r"\('Filename' is not 'filename'\)",
        ),
        (
            "filename \tscene_label\n",
            r"\['filename ', 'scene_label'\], without filename \('filename ' is not",
        ),
        ("\ufeff\ufefffilename\tscene_label\n", r"\['\\ufefffilename', 'scene_label'\]"),  # a BOM saved twice
        ("filename;scene_label\n", r"semicolon-separated"),
        ('"filename\tscene_label\n', r"fold1_train.csv, line 1: a quoted field is never closed"),
        ("filename\tscene_label\tscene_label\n", r"line 1: the header names 'scene_label' twice"),
        (
            "filename\tscene_label\naudio\\bus-paris-10-400-s1.wav\tbus\n",
            r"line 2: the file name 'audio.+bus-paris-10-400-s1.wav' uses '.' \(a Windows path\)",
        ),
    ],
    ids=["case", "space", "double-bom", "semicolon", "open-quote", "column-twice", "backslash"],
)
def test_what_differs_is_named_exactly(tmp_path: Path, text: str, says: str) -> None:
    root = dataset(tmp_path)
    (root / FOLD).write_text(text + "audio/airport-lisbon-1000-40000-a.wav\tairport\n", encoding="utf-8")
    with pytest.raises(CsvFormatError, match=says) as err:
        build_index(root, {}, seed=0)
    assert str(root / FOLD) in str(err.value) and "\n" not in str(err.value)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    (root / FOLD).write_bytes(GOOD[FOLD].replace("airport\n", "a\u00e9roport\n").encode("cp1252"))
    with pytest.raises(CsvFormatError, match=r"fold1_train.csv, line 2: not UTF-8 text"):
        build_index(root, {}, seed=0)


def test_a_fold_without_clips_is_named(tmp_path: Path) -> None:
    root = with_audio(dataset(tmp_path))
    (root / "evaluation_setup/fold1_evaluate.csv").write_text("filename\tscene_label\n")
    with pytest.raises(
        InputError, match=r"fold1_evaluate.csv lists no clip whose audio is under .*nothing to evaluate"
    ):
        build_index(root, {}, seed=0)


def test_utf16_is_named(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    (root / FOLD).write_bytes(GOOD[FOLD].encode("utf-16"))
    with pytest.raises(CsvFormatError, match=r"fold1_train.csv: UTF-16 text .*save it as UTF-8"):
        build_index(root, {}, seed=0)


# ---------------------------------------------------------------- wrong in content (issue 17, item 2)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        (
            FOLD,
            f"filename\tscene_label\n{A}\tairport\n{A}\tairport\n",
            rf"{FOLD}, line 3: {A} is listed again "
            r"\(first at line 2\)",
        ),
        (
            EVAL,
            f"filename\tscene_label\n{B}\tbus\n{A}\tairport\n",
            rf"{EVAL}, line 3: {A} is also in .*{FOLD} "
            r"\(line 2\)",
        ),
        (
            EVAL,
            f"filename\tscene_label\n{B}\tbus\n{C}\ttram\n",
            rf"{EVAL}, line 3: {C} is not listed in .*meta.csv",
        ),
        (
            FOLD,
            f"filename\tscene_label\n{A}\tbus\n",
            rf"{FOLD}, line 2: {A}: scene_label 'bus' disagrees with "
            r"the file name \('airport'\)",
        ),
        (
            META,
            GOOD[META].replace("\tairport\t", "\tpark\t"),
            rf"meta.csv, line 2: {A}: scene_label 'park' disagrees with the file name \('airport'\)",
        ),
        (
            META,
            GOOD[META].replace("\tparis-10\ts1\n", "\tparis-10\ts2\n"),
            rf"meta.csv, line 3: {B}: source_label 's2' disagrees with the file name's device \('s1'\)",
        ),
        (META, GOOD[META].replace("\tbus\t", "\tbuss\t"), rf"meta.csv, line 3: {B}: unknown scene 'buss'"),
        (
            META,
            GOOD[META].replace("\tparis-10\t", "\tlyon-10\t"),
            rf"meta.csv, line 3: {B}: identifier 'lyon-10' names another city than the file name \('paris'\)",
        ),
        (META, GOOD[META] + f"{A}\tairport\tlisbon-1000\ta\n", rf"meta.csv, line 4: {A} is listed again"),
        (FOLD, f"filename\tscene_label\n{A}\tairprt\n", r"unknown scene 'airprt'"),
    ],
    ids=[
        "duplicate",
        "train-and-evaluate",
        "not-in-meta",
        "name-label",
        "meta-label",
        "meta-device",
        "meta-scene",
        "meta-city",
        "meta-duplicate",
        "scene",
    ],
)
def test_wrong_content_names_file_line_and_clip(tmp_path: Path, name: str, text: str, says: str) -> None:
    root = with_audio(dataset(tmp_path))
    (root / name).write_text(text)
    with pytest.raises(MetadataError, match=says) as err:
        build_index(root, {}, seed=0)
    assert "\n" not in str(err.value) and "in a copy asc downloaded, restore the file" in str(err.value)


def test_absent_audio_is_still_a_partial_download(tmp_path: Path, caplog) -> None:
    """Fold entries without their WAV stay a warning (dataset.archives subsets), not an error."""
    root = dataset(tmp_path)
    (root / META).write_text(GOOD[META] + f"{C}\ttram\tparis-10\tb\n")
    (root / FOLD).write_text(GOOD[FOLD] + f"{C}\ttram\n")
    (root / "audio").mkdir()
    for clip in (A, B):
        (root / clip).write_bytes(b"")
    with caplog.at_level("WARNING"):
        table = build_index(root, {}, seed=0)
    assert sorted(table["filename"]) == [A, B]
    assert "1 clips listed in the fold files have no audio" in caplog.text
