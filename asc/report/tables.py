"""The report's tables, each a pure function of the results table returning a DataFrame.

Table 1 of the paper, every criterion x layer set (with significance markers), the paired comparisons
(:mod:`asc.report.compare`), the cost of every model, and a summary of all rows. When the rows a table needs are
missing it raises :class:`asc.report.queries.MissingResultsError` naming the experiment that produces them. Notes that
belong under a table (what a marker or interval means) are in ``table.attrs["notes"]``; the writers print them.
``TABLES`` names those ``asc.report.write.write_report`` writes per dataset (the summary covers all datasets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report import compare
from asc.report.cells import (
    BEST,
    SIG,
    Line,
    first_value,
    fmt_acc,
    fmt_mean_std,
    fmt_reference,
    lines_table,
    selected_on,
)
from asc.report.cost_views import cost_table
from asc.report.figures.accuracy import ALL_LAYERS
from asc.report.networks import labelled, network_levels, one_network
from asc.report.queries import (
    MissingResultsError,
    fold_means,
    has_folds,
    layer_key,
    select,
    sort_layer_sets,
    subsets,
)
from asc.report.rows import teacher_of
from asc.report.tables_comparison import comparison_table

__all__ = ["TABLES", "criteria_table", "summary_table", "table1"]


TABLE1_METHODS = {
    "cosine": "Proposed cosine distance based method",
    "chebyshev": "Chebyshev distance based method",
    "average": "Average filters",
    "l1": "l1-norm method",
    "random": "Randomly initialized pruned network",
}


def table1(df: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 1: accuracy of the C1+C2+C3-pruned network without fine-tuning, per selection method."""
    df = one_network(df, "table 1")
    records = []
    base = select(df, stage="baseline")
    if not base.empty:
        line = Line(Method="Unpruned network", Kept="")
        line.stats("Accuracy (%)", fold_means(base, "accuracy"), fmt_reference)
        line["Selected on"] = selected_on(base, df)
        records.append(line)
    found = 0
    for crit, name in TABLE1_METHODS.items():
        rows = select(df, stage="prune", criterion=crit, layers=ALL_LAYERS, finetuned=False)
        if rows.empty:
            continue
        found += 1
        line = Line(Method=f"{name} ({ALL_LAYERS})", Kept=first_value(rows, "kept"))
        line.stats("Accuracy (%)", fold_means(rows, "accuracy"))
        line["Selected on"] = selected_on(rows, df)
        records.append(line)
    if not found:
        raise MissingResultsError(
            f"Table 1 needs prune rows for {ALL_LAYERS} with criteria {list(TABLE1_METHODS)}; "
            "run `asc experiment=paper_table1`"
        )
    return lines_table(records)


def _structure(rows: pd.DataFrame) -> dict:
    """Size of a (pruned) model: identical across repeats, so take it from the first row that has it."""
    macs, macs_paper = first_value(rows, "macs"), first_value(rows, "macs_paper")
    return {
        "Kept": first_value(rows, "kept"),
        "Params": first_value(rows, "params_torch"),
        "Params (Keras)": first_value(rows, "params_keras"),
        "MACs (M)": round(macs / 1e6, 2) if pd.notna(macs) else np.nan,
        "MACs paper (M)": round(macs_paper / 1e6, 2) if pd.notna(macs_paper) else np.nan,
        "Params red. (%)": round(first_value(rows, "params_reduction_pct"), 1),
        "MACs red. (%)": round(first_value(rows, "macs_reduction_pct"), 1),
        "MACs paper red. (%)": round(first_value(rows, "macs_paper_reduction_pct"), 1),
    }


MARKER_NOTES = [
    f"{SIG}: differs from the unpruned baseline (paired t-test on accuracy, Holm-adjusted p < "
    f"{compare.ALPHA:g}; see the comparison table)",
    f"{BEST}: better than every other criterion at this layer set and subset (same test)",
    "mean ± std over repeats; (n = 1): a single run, no spread",
    f"no mark below n = {compare.MIN_N} repeats: a paired t-test on one degree of freedom is no evidence",
    "FT <share>%: our stratified fraction of the training pool; FT split<share>: the official DCASE 2024 split "
    "(never pooled with a fraction of the same share); Selected on: where the kept epoch was chosen (val, test, "
    "or last epoch: no selection)",
]


FOLDS_NOTE = (
    "cross-validation: mean ± std over folds (the test folds; a fold's runs averaged first); comparisons pair "
    "runs within each fold"
)


def _markers(comp: pd.DataFrame, metric: str = "accuracy") -> dict[tuple, str]:
    """{(criterion, layers, finetuned, subset): markers} from the ``metric`` rows (the task's main metric:
    accuracy or mAP) of :func:`asc.report.compare.comparisons` (see :data:`MARKER_NOTES`)."""
    acc = comp[comp["metric"] == metric]
    sig = acc["p_holm"] < compare.ALPHA  # NaN (no test, or n < MIN_N) is never significant
    marks: dict[tuple, str] = {}
    for (layers, finetuned, subset), group in acc.groupby(["layers", "finetuned", "subset"], dropna=False):
        where = (layers, bool(finetuned), subset if finetuned else "")

        def mark(crit: str, sign: str, where=where) -> None:
            marks[(crit, *where)] = marks.get((crit, *where), "") + sign

        for crit in group.loc[(group["b"] == compare.UNPRUNED) & sig[group.index], "a"]:
            mark(crit, SIG)
        pairs = group[group["b"] != compare.UNPRUNED]
        for crit in sorted(set(pairs["a"]) | set(pairs["b"])):
            mine = pairs[(pairs["a"] == crit) | (pairs["b"] == crit)]
            if (((mine["a"] == crit) == (mine["mean_diff"] > 0)) & sig[mine.index]).all():
                mark(crit, BEST)
    return marks


def criteria_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every criterion x layer set: size, reductions, accuracy before and after fine-tuning at each fraction,
    with the markers of :data:`MARKER_NOTES`; the baseline row is the reference distribution (:func:`fmt_reference`)."""
    df = one_network(df, "the criteria table")
    pruned = df[df["stage"] != "baseline"]
    if pruned.empty:
        raise MissingResultsError("the criteria table needs prune rows; run `asc experiment=paper_fig3`")
    tuned = pruned[pruned["finetuned"]]
    labels = subsets(tuned)
    order = tuned.assign(_s=labels, _o=tuned["split"].astype(str) != "").sort_values(["fraction", "_o", "_s"])
    shares = list(dict.fromkeys(order["_s"]))  # by share; at one share our fraction, then the official split
    task = task_of_rows(df)
    metric, short = task.metric, task.short
    marks = _markers(compare.comparisons(df), metric)
    records = []
    base = select(df, stage="baseline")
    keys = [("none", "")] if not base.empty else []
    keys += sorted(set(zip(pruned["criterion"], pruned["layers"], strict=True)), key=lambda k: (k[0], k[1]))
    for crit, layers in keys:
        if crit == "none":
            rec = Line(Criterion=crit, Layers=layers, **_structure(base))
            rec.stats(f"{short} no FT (%)", fold_means(base, metric), fmt_reference)
            rec["Selected on"] = selected_on(base, df)
            records.append(rec)
            continue
        rows = pruned[(pruned["criterion"] == crit) & (pruned["layers"] == layers)]
        rec = Line(Criterion=crit, Layers=layers, **_structure(rows))
        mark = marks.get((crit, layers, False, ""), "")
        rec.stats(
            f"{short} no FT (%)", fold_means(rows.loc[~rows["finetuned"]], metric), fmt_acc, marker=mark
        )
        for subset in shares:
            mark = marks.get((crit, layers, True, subset), "")
            here = fold_means(select(rows, finetuned=True, subset=subset), metric)
            rec.stats(f"{short} FT {subset} (%)", here, fmt_acc, marker=mark)
        rec["Selected on"] = selected_on(rows[rows["finetuned"]] if rows["finetuned"].any() else rows, df)
        records.append(rec)
    table = lines_table(records)
    order = {ls: i for i, ls in enumerate(sort_layer_sets(table["Layers"]))}
    # Baseline first, then by layer set in the paper's order, then criterion.
    table["_b"] = table["Criterion"] != "none"
    table["_l"] = table["Layers"].map(order)
    table = table.sort_values(["_b", "_l", "Criterion"]).drop(columns=["_b", "_l"]).reset_index(drop=True)
    table.attrs["notes"] = [n.replace("on accuracy", f"on {metric}") for n in MARKER_NOTES]
    if has_folds(df):
        table.attrs["notes"].append(FOLDS_NOTE)
    return table


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, stage, criterion, layers, fraction): mean ± std over repeats of the metrics (the
    baseline's accuracy with its 95 % CI over seeds, :func:`fmt_reference`)."""
    if df.empty:
        raise MissingResultsError("the results table is empty; run `asc experiment=demo` or `asc` to fill it")
    # A distilling fine-tuning (the teacher column: its teacher's label) is a line of its own, never pooled with
    # hard labels (asc.report.rows.pooling_key); tables of hard labels only keep their columns.
    teachers = df["teacher"].map(teacher_of) if "teacher" in df else None
    taught = ["teacher"] if teachers is not None and teachers.ne("").any() else []
    df = labelled(df)  # several networks in one dataset: a line per network too (asc/report/networks.py)
    nets = network_levels(df)
    keys = ["dataset", *nets, "stage", "criterion", "layers", "subset", *taught, "select_on"]
    stage_order = {"baseline": 0, "prune": 1, "finetune": 2, "per_device": 3}
    folds = has_folds(
        df
    )  # a cross-validation: each cell the mean ± std over folds (asc.report.queries.fold_means)
    records = []
    extra = {"teacher": teachers} if taught else {}
    for key, rows in df.assign(subset=subsets(df), **extra).groupby(keys, dropna=False, sort=False):
        rec = Line(zip(keys, key, strict=True))
        rec["select_on"] = selected_on(rows, df)
        task = task_of_rows(rows)  # a summary of several datasets may hold scenes and tagging rows
        rec["n"] = len(rows)
        reference = fmt_reference if rec["stage"] == "baseline" and len(rows) > 1 else fmt_mean_std
        rec.stats(task.metric_label, fold_means(rows, task.metric), reference)
        if folds:
            rec["folds"] = int(rows["fold"].nunique())
        _secondary(rec, task, rows)
        rec.update(
            {
                "Params": first_value(rows, "params_torch"),
                "MACs (M)": round(first_value(rows, "macs") / 1e6, 2),
            }
        )
        rec.stats("Time (s)", rows["train_time_s"], scale=1.0, digits=1)
        rec.update(
            {
                "_s": stage_order.get(rec["stage"], 9),
                "_l": layer_key(rec["layers"]),
                "_f": rows["fraction"].iloc[0],
                "_o": rec["subset"].startswith("split"),
            }
        )
        records.append(rec)
    table = lines_table(records)
    order = ["dataset", *nets, "_s", "criterion", "_l", "_f", "_o", *taught]
    table = table.sort_values(order, na_position="first")
    table = table.drop(columns=["_s", "_l", "_f", "_o"]).rename(columns={"select_on": "selected on"})
    table.attrs["notes"] = [
        "subset: our stratified fraction (25%) or the official DCASE 2024 split (split25), never pooled; "
        "selected on: where the kept epoch was chosen (val, test, or last epoch: no selection)"
    ] + ([f"folds: how many test folds; {FOLDS_NOTE}"] if folds else [])
    return table.reset_index(drop=True)


def _secondary(line: Line, task, rows: pd.DataFrame) -> None:
    """The summary's other metric cells of the task into ``line``: class-averaged accuracy and log loss, or AUC
    and d′."""
    if task.multi_label:
        line.stats("AUC (%)", fold_means(rows, "auc"))
        line.stats("d′", fold_means(rows, "d_prime"), scale=1.0, digits=3)
        return
    line.stats("Class-avg acc. (%)", fold_means(rows, "class_avg_accuracy"))
    line.stats("Log loss", fold_means(rows, "log_loss"), scale=1.0, digits=3)


TABLES = {"table1": table1, "criteria": criteria_table, "comparison": comparison_table, "cost": cost_table}
