"""Issue 18 item 4: a results table that is empty, ragged or in another encoding is named with its line before any
stage runs (and by asc.report.results.load itself); a read-only results or store folder is found before anything is
built."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from reliability_fixtures import mounted_tmpfs

from asc.core.disk import check_writable
from asc.core.errors import InputError
from asc.report import results
from asc.report.results_check import ResultsTableError, check_results_table

HEADER = "run_id,stage,dataset,accuracy,l1_norms\n"
ROWS = 'train/a,baseline,demo,0.5,"{""C1"": [0.1, 0.2]}"\nprune/b,prune,demo,0.4,\n'


def table(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is empty (no header line)"),
        (b"\n\n", "is empty (no header line)"),
        ((HEADER + ROWS + "prune/c,prune,demo\n").encode(), "line 4: 3 field(s) where the header has 5"),
        ((HEADER + ROWS).encode("utf-16"), "is UTF-16 text"),
        (HEADER.encode() + b"train/a,baseline,d\xe9mo,0.5,\n", "line 2: not UTF-8 text"),
        (b"name,accuracy\nx,0.5\n", "line 1: the header 'name,accuracy' lacks the column(s) run_id, stage"),
        ((HEADER + 'train/a,baseline,demo,0.5,"[0.1\n').encode(), "line 2: not a readable CSV row"),
        (HEADER.replace(",", ";").encode(), "lacks the column(s) run_id, stage: it is semicolon-separated"),
        (
            (HEADER + ROWS + "train/a,baseline,demo,0.9,\n").encode(),
            "line 4: run train/a again (first at line 2)",
        ),
        ((HEADER + "train/a,baseline,demo,abc,\n").encode(), "line 2: accuracy='abc' is not a number"),
        (
            (HEADER + "train/a,baseline,demo,1.5,\n").encode(),
            "line 2: accuracy='1.5' is not a number in [0, 1]",
        ),
        (
            (HEADER + "train/a,baseline,demo,nan,\n").encode(),
            "line 2: accuracy='nan' is not a number in [0, 1]",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "ragged",
        "utf16",
        "latin1",
        "foreign",
        "open-quote",
        "semicolon",
        "twice",
        "text",
        "range",
        "nan",
    ],
)
def test_broken_tables_are_named_with_their_line(tmp_path: Path, data: bytes, expected: str) -> None:
    path = table(tmp_path, data)
    with pytest.raises(ResultsTableError) as err:
        check_results_table(path)
    message = str(err.value)
    assert message.startswith(f"results table {path}") and expected in message and "\n" not in message
    assert "move results.csv aside" in message
    with pytest.raises(
        ResultsTableError, match=re.escape(expected.split(":")[0])
    ):  # load says the same, not pandas'
        results.load(path)
    with pytest.raises(ResultsTableError):
        results.append(path, [{"run_id": "x", "stage": "prune"}])
    assert path.read_bytes() == data  # nothing appended to a table that cannot be read


def test_good_tables_pass_with_or_without_a_utf8_bom(tmp_path: Path) -> None:
    check_results_table(tmp_path / "absent.csv")  # a first run: nothing to check
    for data in ((HEADER + ROWS).encode(), (HEADER + ROWS).encode("utf-8-sig")):
        path = table(tmp_path, data)
        check_results_table(path)
        assert list(results.load(path)["run_id"]) == ["train/a", "prune/b"]
    results.append(path, [{"run_id": "prune/c", "stage": "prune"}])
    assert list(results.load(path)["run_id"]) == ["train/a", "prune/b", "prune/c"]


def test_read_only_folder_is_found_before_anything_runs(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", read_only=True) as ro:
        with pytest.raises(InputError) as err:
            check_writable(ro / "results", what="the results folder", setting="paths.results")
    message = str(err.value)
    assert (
        f"the results folder {ro / 'results'} (paths.results) is not writable (a read-only file system"
        in message
    )
    assert "point paths.results at a folder this job can write" in message


def test_unwritable_folder_named_with_the_reason(tmp_path: Path, monkeypatch) -> None:
    real = os.open

    def denied(path, flags, mode=0o777):
        if "asc-write-probe" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(path, flags, mode)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match=r"the store .*paths.store.* is not writable \(Permission denied"):
        check_writable(tmp_path / "store", what="the store", setting="paths.store")


def test_writable_folder_passes_and_is_left_as_it_was(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "store", what="the store")
    check_writable(tmp_path, what="the store")
    assert list(tmp_path.iterdir()) == []  # neither made nor littered
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_writable(tmp_path / "file" / "store", what="the store")
