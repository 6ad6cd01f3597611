"""`asc experiment=sensitivity` end to end on the tiny demo, cut to one criterion on one layer at two ratios (a
curve's fewest points): the scan's rows, the sensitivity table and its figure (issue 27 §4)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import TINY_DEMO_DATA

pytestmark = pytest.mark.slow

TINY = [
    "experiment=sensitivity",
    *TINY_DEMO_DATA,
    "train.epochs=1",
    "train.select_after=0",
    "model.widths=[4,4,8]",  # the pipeline, not the arithmetic: a narrow network trains in a fraction of the time
    "runtime.latency.measure=false",
    "runs=[{criteria:[l1],layer_sets:[[C2]],fractions:[1.0],sensitivity:[0.25,0.5]}]",
]


def test_the_scan_runs_and_draws_its_table_and_figure(tmp_path: Path, shared_data: Path) -> None:
    import asc

    results = tmp_path / "results"
    asc.run(
        [
            *TINY,
            f"paths.data={shared_data}",
            f"paths.store={tmp_path / 'store'}",
            f"paths.results={results}",
        ]
    )
    rows = pd.read_csv(results / "results.csv")
    scan = rows[rows["stage"].isin(["prune", "finetune"])]
    assert sorted(zip(scan["stage"], scan["layers"], scan["ratio"], strict=True)) == [
        ("finetune", "C2", 0.25),
        ("finetune", "C2", 0.5),
        ("prune", "C2", 0.25),
        ("prune", "C2", 0.5),
    ]
    assert (scan["epochs"][scan["stage"] == "finetune"] == 1).all()
    table = pd.read_csv(results / "sensitivity.csv", dtype=str)
    assert list(table["Removed (%)"]) == ["25", "50"] and set(table["Criterion"]) == {"l1"}
    for ext in ("md", "tex", "png", "pdf"):
        assert (results / f"sensitivity.{ext}").stat().st_size > 0
