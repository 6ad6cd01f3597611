"""Provenance: versions, git commit (dirty flag; none outside a checkout) and host in every manifest and results
row, never in a key; results tables written before these columns still load, append and report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from results_fixtures import make_results

from asc.core import provenance
from asc.pipeline.store import Store
from asc.report import results
from asc.report.rows import make_row
from asc.report.tables import TABLES, summary_table

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def test_provenance_names_versions_and_host():
    import librosa
    import numpy
    import torch

    found = provenance.provenance()
    assert tuple(found) == provenance.COLUMNS
    # A local tag ("+cpu", "+cu130") is in torch.__version__ and in some wheels' metadata only (2.13.0+cpu's, not
    # 2.14.1's): the public version is what both give.
    assert torch.__version__.split("+")[0] == found["torch_version"].split("+")[0]
    assert found["numpy_version"] == numpy.__version__ and found["librosa_version"] == librosa.__version__
    assert found["asc_version"] and found["host"] and found["python_version"]


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@needs_git
def test_git_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    package = repo / "asc"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.git_state(package) == (head, False)
    (package / "__init__.py").write_text("x = 2\n")  # a tracked file changed
    assert provenance.git_state(package) == (head, True)
    _git(repo, "checkout", "-q", "--", ".")
    (package / "new.py").write_text("")  # a new module changes results too
    assert provenance.git_state(package) == (head, True)


@needs_git
def test_no_commit_outside_a_checkout(tmp_path):
    alone = tmp_path / "site-packages" / "asc"
    alone.mkdir(parents=True)
    (alone / "__init__.py").write_text("")
    assert provenance.git_state(alone) == (None, None)
    # An installed copy inside some other repository's folder (a venv in a project) is not that repository's.
    repo = tmp_path / "project"
    (repo / "venv" / "asc").mkdir(parents=True)
    (repo / "venv" / "asc" / "__init__.py").write_text("")
    (repo / "README").write_text("")
    _git(repo, "init", "-q")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "one")
    assert provenance.git_state(repo / "venv" / "asc") == (None, None)


def test_the_manifest_records_provenance_and_the_key_ignores_it(tmp_path, monkeypatch):
    store = Store(tmp_path)
    art = store.artifact("train", {"lr": 0.1})
    store.build(art, lambda work: (work / "f").write_text("x") and None, config={"lr": 0.1})
    assert art.manifest()["provenance"] == provenance.provenance()
    other = {**provenance.provenance(), "git_commit": "0" * 40, "host": "elsewhere"}
    monkeypatch.setattr("asc.pipeline.store.provenance", lambda: other)
    again = store.artifact("train", {"lr": 0.1})
    assert again.key == art.key  # another commit or host builds the same artifact: reused, not rebuilt
    calls = []
    store.build(again, lambda work: calls.append(work), config={"lr": 0.1})
    assert not calls and again.manifest()["provenance"]["host"] != "elsewhere"


def _row(run_id: str, **prov) -> dict:
    scores = {
        "accuracy": 0.5,
        "class_avg_accuracy": 0.5,
        "log_loss": 1.0,
        "per_device": {"a": {"accuracy": 0.5}},
    }
    counted = {"params_torch": 10, "params_keras": 10, "macs": 100}
    row = make_row(
        stage="baseline",
        run_id=run_id,
        dataset="demo",
        scores=scores,
        complexity=counted,
        full=counted,
        checkpoint="x",
        provenance=prov or None,
    )
    return row | {"criterion": "none", "layers": "", "seed": 0, "baseline_seed": 0}


def test_rows_carry_provenance_and_old_tables_keep_working(tmp_path):
    old = make_results().drop(columns=list(provenance.COLUMNS))
    path = tmp_path / "results.csv"
    old.to_csv(path, index=False)  # a table written before provenance was recorded
    df = results.load(path)
    assert df["git_commit"].eq("").all() and df["git_dirty"].isna().all()
    assert not summary_table(df).empty
    for build in TABLES.values():
        build(df[df["stage"] != "per_device"])
    results.append(path, [_row("train/new", **provenance.provenance())])
    df = results.load(path)
    new = df[df["run_id"] == "train/new"].iloc[0]
    assert new["torch_version"] == provenance.provenance()["torch_version"] and new["host"]
    assert df["git_dirty"].dtype == "boolean"
    assert set(df.loc[df["run_id"] != "train/new", "git_commit"]) == {""}
    assert list(df.columns[: len(results.COLUMNS)]) == results.COLUMNS


def test_git_dirty_reads_back_as_true_false_or_unknown():
    df = results.normalize(
        pd.DataFrame([_row("a", git_dirty=True), _row("b", git_dirty=False), _row("c", git_dirty=np.nan)])
    )
    assert df["git_dirty"].tolist()[:2] == [True, False] and df["git_dirty"].isna().tolist()[2]
    text = results.normalize(
        pd.DataFrame([{**_row("a"), "git_dirty": "True"}, {**_row("b"), "git_dirty": ""}])
    )
    assert bool(text["git_dirty"][0]) is True and pd.isna(text["git_dirty"][1])
