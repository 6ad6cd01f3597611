"""The comparison table: the paired comparisons of :func:`asc.report.compare.comparisons` as one line per
comparison and metric, with the paired difference, its interval, the t-test's p and its Holm adjustment, and the
notes that say what a pair is and when there is no test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.report import compare
from asc.report.cells import SIG, fmt_diff, fmt_p, selected_on
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, layer_key, subsets
from asc.report.table_writers import CSV_ONLY

__all__ = ["DIFF", "NUMBERS", "comparison_table"]

DIFF = "A − B (mean ± 95% CI)"  # the comparison table's paired-difference column
# The numbers behind the formatted cells, in the CSV alone (asc.report.table_writers.CSV_ONLY), unrounded and in
# the metric's units (accuracy, mAP, AUC in percentage points, log loss in nats): compare.comparisons' column →
# the CSV's. Blank where the formatted cell is (n = 1, equal differences).
NUMBERS = {
    "mean_diff": "mean_diff",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "p": "p_value",
    "p_holm": "p_holm_value",
}


def comparison_table(df: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons of :func:`asc.report.compare.comparisons`, one line per comparison and metric: A − B at
    one layer set and fine-tuning fraction, the number of pairs, the mean difference ± its 95 % t interval's
    half-width (:func:`asc.report.cells.fmt_diff`; accuracy in percentage points), the paired t-test's p and its
    Holm adjustment, ``*`` when that is below 0.05, and a note for the cases without a test (n = 1, all
    differences equal); then, for the CSV alone, the numbers behind those cells (:data:`NUMBERS`)."""
    df = one_network(df, "the comparison table")
    comp = compare.comparisons(df)
    if comp.empty:
        raise MissingResultsError(
            "the comparison table needs two criteria (or a criterion and the unpruned baseline) at the same "
            "layer set and fraction; run `asc` (the demo)"
        )
    metrics = compare.metrics_of(df)
    comp = _in_reading_order(comp, metrics)
    table = _lines(comp, metrics, _selections(df))
    numbers = comp[list(NUMBERS)].rename(columns=NUMBERS).reset_index(drop=True)
    table = pd.concat([table, numbers], axis=1)
    table.attrs = {"notes": _notes(comp, metrics, df), CSV_ONLY: list(NUMBERS.values())}
    return table


def _in_reading_order(comp: pd.DataFrame, metrics: dict) -> pd.DataFrame:
    """By layer set (the paper's order), fine-tuning and its data, the baseline comparisons last, then A, B and
    the task's main metric before the others."""
    comp = comp.assign(
        _l=comp["layers"].map(layer_key),
        _u=comp["b"] == compare.UNPRUNED,
        _m=comp["metric"] != next(iter(metrics)),
    )
    return comp.sort_values(
        ["_l", "finetuned", "fraction", "subset", "_u", "a", "b", "_m"], na_position="first"
    )


def _selections(df: pd.DataFrame) -> dict[tuple, str]:
    """{(layers, finetuned, subset): where the kept epochs were chosen} over the pruned rows of ``df``."""
    pruned = df[df["stage"] != "baseline"]
    where = pruned.assign(_s=subsets(pruned))
    return {
        key: selected_on(rows, df)
        for key, rows in where.groupby(["layers", "finetuned", "_s"], dropna=False, sort=False)
    }


def _lines(comp: pd.DataFrame, metrics: dict, selection: dict[tuple, str]) -> pd.DataFrame:
    """The table's lines, one per sorted comparison and metric."""
    return pd.DataFrame(
        {
            "Layers": comp["layers"],
            "Fine-tuning data": [
                s if ft else "none" for s, ft in zip(comp["subset"], comp["finetuned"], strict=True)
            ],
            "Selected on": [
                selection.get((la, ft, s if ft else ""), "")
                for la, ft, s in zip(comp["layers"], comp["finetuned"], comp["subset"], strict=True)
            ],
            "A": comp["a"],
            "B": comp["b"],
            "Metric": comp["metric"].map(lambda m: metrics[m][0]),
            "n": comp["n"].astype(int),
            DIFF: [
                fmt_diff(d, lo, hi, 2 if metrics[m][1] != 1 else 3)
                for d, lo, hi, m in zip(
                    comp["mean_diff"], comp["ci_low"], comp["ci_high"], comp["metric"], strict=True
                )
            ],
            "p": comp["p"].map(fmt_p),
            "p (Holm)": comp["p_holm"].map(fmt_p),
            "Sig.": np.where(comp["p_holm"] < compare.ALPHA, SIG, ""),
            "Note": comp["note"],
        }
    ).reset_index(drop=True)


def _notes(comp: pd.DataFrame, metrics: dict, df: pd.DataFrame) -> list[str]:
    """What a pair is, what the difference column and p mean, and how many tests the Holm adjustment spans."""
    tests = {m: int(comp.loc[comp["metric"] == m, "p"].notna().sum()) for m in metrics}
    counts = ", ".join(f"{n} for {metrics[m][0].split(' (')[0]}" for m, n in tests.items())
    base = compare.baseline_of(df)
    return [
        "Pairs: runs of A and B with the same dataset, layer set, fine-tuning subset (our fraction or an official "
        "split, never pooled), repeat and baseline seed "
        "(the same data subset and seeds); B = unpruned: each run of A against the baseline it was pruned from "
        f"({len(base)} baseline seed(s)).",
        f"{DIFF}: the mean of the n paired differences A − B, signed (+: A higher), ± the half-width of its "
        "95 % Student t interval (symmetric; none for n = 1); accuracy, mAP and AUC in percentage points, log "
        "loss in nats; p: two-sided paired t-test (scipy.stats.ttest_rel).",
        (
            f"p (Holm): Holm-adjusted over the tests of this table, per metric ({counts}; statsmodels "
            "multipletests); "
            if any(tests.values())
            else "No tests: no comparison has two pairs with differing differences (repeats > 1 give them); "
        )
        + f"{SIG}: p (Holm) < {compare.ALPHA:g}. n = 1 or equal differences: no interval and no test. "
        f"n < {compare.MIN_N}: p shown, not adjusted and never marked (one degree of freedom; a claim needs "
        f"n >= {compare.MIN_N} repeats).",
    ]
