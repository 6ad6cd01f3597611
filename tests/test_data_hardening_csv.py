"""Malformed metadata CSVs (issue 11, item 8): one error naming the file, the line and the expected format."""

from __future__ import annotations

from pathlib import Path

import pytest

from asc.data.prepare import is_complete
from asc.data.tau import COLUMNS, CsvFormatError, build_index, read_table

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
            "lacks the column(s) scene_label",
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
    with pytest.raises(CsvFormatError, match="meta.csv: not UTF-8"):
        read_table(root, "meta.csv")
