"""The results store: round trip, replace-on-run_id, dynamic device columns, parallel appends."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asc.report import queries, results


def row(run_id: str, **kw) -> dict:
    base = {
        "run_id": run_id,
        "stage": "prune",
        "dataset": "demo",
        "criterion": "cosine",
        "layers": "C1+C2",
        "repeat": 0,
        "seed": 0,
        "finetuned": False,
        "accuracy": 0.5,
        "params_torch": 1000,
        "macs": 10**8,
    }
    return {**base, **kw}


def test_round_trip_types(tmp_path):
    path = tmp_path / "results.csv"
    dist = {"C1": [0.1, 0.25, 1 / 3]}
    results.append(
        path,
        [
            row("a", closest_distance=json.dumps(dist), kept="C1:11/16 C2:11/16"),
            row("b", stage="baseline", criterion="none", layers=""),
            row("c", stage="finetune", finetuned=True, fraction=0.1, repeat=2),
        ],
    )
    df = results.load(path)
    assert list(df["run_id"]) == ["a", "b", "c"]
    assert list(df.columns[: len(results.COLUMNS)]) == results.COLUMNS
    assert df["finetuned"].dtype == bool and list(df["finetuned"]) == [False, False, True]
    assert df.loc[1, "layers"] == "" and df.loc[0, "kept"] == "C1:11/16 C2:11/16"
    assert df["repeat"].dtype == np.int64 and df.loc[2, "repeat"] == 2
    assert np.isnan(df.loc[0, "fraction"]) and df.loc[2, "fraction"] == pytest.approx(0.1)
    assert json.loads(df.loc[0, "closest_distance"]) == dist  # floats survive the CSV exactly


def test_same_run_id_replaces(tmp_path):
    path = tmp_path / "results.csv"
    results.append(path, [row("a", accuracy=0.1), row("b", accuracy=0.2)])
    results.append(path, [row("a", accuracy=0.3)])
    results.append(path, [row("a", accuracy=0.3)])  # idempotent re-run
    df = results.load(path)
    assert sorted(df["run_id"]) == ["a", "b"]
    assert df.set_index("run_id").loc["a", "accuracy"] == pytest.approx(0.3)
    results.append(path, [row("c", accuracy=0.4), row("c", accuracy=0.5)])  # last one in a batch wins
    assert results.load(path).set_index("run_id").loc["c", "accuracy"] == pytest.approx(0.5)


def test_device_columns_are_dynamic(tmp_path):
    path = tmp_path / "results.csv"
    results.append(path, [row("a", acc_a=0.6)])
    results.append(path, [row("b", acc_s1=0.4, acc_a=0.5)])
    df = results.load(path)
    assert results.device_columns(df) == ["acc_a", "acc_s1"]
    assert np.isnan(df.set_index("run_id").loc["a", "acc_s1"])


def test_bad_rows_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="run_id"):
        results.append(tmp_path / "r.csv", [row("")])
    with pytest.raises(ValueError, match="stage"):
        results.append(tmp_path / "r.csv", [row("x", stage="train")])
    with pytest.raises(FileNotFoundError, match=r"nope\.csv.*asc experiment=demo"):
        results.load(tmp_path / "nope.csv")


def _writer(path: Path, prefix: str, n: int) -> None:
    for i in range(n):
        results.append(path, [row(f"{prefix}-{i}", accuracy=i / n, acc_a=0.5)])


def test_parallel_appends_lose_nothing(tmp_path):
    path = tmp_path / "results.csv"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, p, 50)) for p in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    df = pd.read_csv(path)
    assert len(df) == 100 and df["run_id"].is_unique
    assert not list(tmp_path.glob("*.tmp"))  # no temp file left behind


def test_query_helpers():
    assert queries.sort_layer_sets(["C1+C2+C3", "C2", "C1+C3", "C1", "C1+C2"]) == [
        "C1",
        "C2",
        "C1+C2",
        "C1+C3",
        "C1+C2+C3",
    ]
    assert queries.mean_std([0.4, 0.6]) == (pytest.approx(0.5), pytest.approx(np.sqrt(0.02)), 2)
    assert queries.mean_std([0.4]) == (0.4, 0.0, 1)
    assert queries.mean_std([])[2] == 0
    df = results.normalize(pd.DataFrame([row("a", finetuned=True, fraction=0.1 + 0.2), row("b")]))
    assert list(queries.select(df, fraction=0.3)["run_id"]) == ["a"]
    assert list(queries.select(df, finetuned=False, criterion=["cosine"])["run_id"]) == ["b"]
