"""The CSV of the summary, Table 1 and the criteria table holds, beside each "mean ± std" cell, the numbers behind
it (asc.report.cells.numbers: ``<name>_mean``, ``_std``, ``_n``, the reference's ``_ci_low``/``_ci_high``, in
percent for the (%) columns), as the comparison CSV does; Markdown and LaTeX keep the formatted cells alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from results_fixtures import make_results
from scipy import stats

from asc.report import tables
from asc.report.cells import machine_name
from asc.report.table_writers import CSV_ONLY, to_markdown, write_table


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return make_results(repeats=3, baseline_seeds=3)


def test_machine_names_of_formatted_columns() -> None:
    assert machine_name("Accuracy (%)") == "accuracy" and machine_name("Acc. FT 25% (%)") == "acc_ft_25pct"
    assert machine_name("d′") == "d_prime" and machine_name("Time (s)") == "time_s"


@pytest.mark.parametrize("make", [tables.summary_table, tables.table1, tables.criteria_table])
def test_the_markdown_shows_the_formatted_cells_alone(df, make, tmp_path) -> None:
    """The .md is the table of formatted cells as before: its header the people's columns, its cells theirs."""
    table = make(df)
    machine = table.attrs[CSV_ONLY]
    assert machine and all(c.endswith(("_mean", "_std", "_n", "_ci_low", "_ci_high")) for c in machine)
    people = table.drop(columns=machine)
    people.attrs = {"notes": table.attrs.get("notes", [])}
    csv, md, tex = write_table(table, tmp_path / "t")
    assert md.read_text() == to_markdown(people)
    lines = md.read_text().splitlines()
    assert lines[0] == "| " + " | ".join(people.columns) + " |"
    for column in [c for c in people.columns if machine_name(c) + "_mean" in machine]:
        shown = [
            line[2:-2].split(" | ")[people.columns.get_loc(column)] for line in lines[2 : 2 + len(people)]
        ]
        assert shown == [v or "–" for v in people[column].fillna("")]
    assert not any(c in tex.read_text() for c in machine)
    assert list(pd.read_csv(csv).columns) == list(table.columns)


def _by_numpy(values) -> tuple[float, float, int]:
    x = np.asarray(values, dtype=float)
    return x.mean(), x.std(ddof=1), x.size


def test_the_summary_csv_holds_numpys_mean_and_std_of_the_rows(df, tmp_path) -> None:
    csv, _, _ = write_table(tables.summary_table(df), tmp_path / "summary")
    machine = pd.read_csv(csv)
    line = machine[
        (machine["criterion"] == "l1") & (machine["layers"] == "C2") & (machine["stage"] == "finetune")
    ]
    rows = df[(df["criterion"] == "l1") & (df["layers"] == "C2") & (df["stage"] == "finetune")]
    for name, column, scale in [
        ("accuracy", "accuracy", 100),  # percent, as the cell
        ("class_avg_acc", "class_avg_accuracy", 100),
        ("log_loss", "log_loss", 1),  # nats
        ("time_s", "train_time_s", 1),
    ]:
        mean, std, n = _by_numpy(rows[column] * scale)
        got = line[[f"{name}_mean", f"{name}_std", f"{name}_n"]].iloc[0]
        assert tuple(got) == (pytest.approx(mean), pytest.approx(std), n)
    assert pd.api.types.is_integer_dtype(machine["accuracy_n"].dropna())


def test_the_baselines_reference_and_one_runs_cells(df) -> None:
    """The reference cell's interval is the Student t interval of the seeds' mean; one run: no std."""
    table = tables.table1(df)
    base = table.iloc[0]
    mean, std, n = _by_numpy(df.loc[df["stage"] == "baseline", "accuracy"] * 100)
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=std / np.sqrt(n))
    assert (base["accuracy_mean"], base["accuracy_std"], base["accuracy_n"]) == pytest.approx((mean, std, n))
    assert (base["accuracy_ci_low"], base["accuracy_ci_high"]) == pytest.approx((low, high))
    one = table.iloc[1]  # a prune row: one run, "16.0" shown
    assert one["accuracy_n"] == 1 and np.isnan(one["accuracy_std"]) and np.isnan(one["accuracy_ci_low"])
    criteria = tables.criteria_table(df)
    line = criteria[(criteria["Criterion"] == "cosine") & (criteria["Layers"] == "C1+C2+C3")].iloc[0]
    tuned = df[(df["criterion"] == "cosine") & (df["layers"] == "C1+C2+C3") & (df["fraction"] == 0.5)]
    mean, std, n = _by_numpy(tuned.loc[tuned["stage"] == "finetune", "accuracy"] * 100)
    assert (line["acc_ft_50pct_mean"], line["acc_ft_50pct_std"], line["acc_ft_50pct_n"]) == pytest.approx(
        (mean, std, n)
    )
