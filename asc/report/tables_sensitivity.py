"""The sensitivity table: accuracy per criterion × layer set × ratio (share of filters removed), before and after
fine-tuning, mean ± std over repeats; a view of the results table (the scans of asc/prune/sensitivity.py).

Which rows are a scan is read from the table alone (the report never reads a config): the one-shot, hard-label
prune and fine-tuning rows pruned at a ratio, of each criterion × layer set the table holds at two ratios or more
(a curve needs two points). A table without such rows has no sensitivity table or figure: other jobs' reports are
unchanged, and :func:`sensitivity_rows` raises :class:`asc.report.queries.MissingResultsError` naming the experiment.
"""

from __future__ import annotations

import re

import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report.cells import Line, lines_table
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, hard_labels, layer_key, subsets
from asc.report.rows import ratio_of, schedule_label

__all__ = ["STEM", "sensitivity_rows", "sensitivity_table"]

STEM = "sensitivity"  # sensitivity.{csv,md,tex} and the figure's sensitivity.{png,pdf}
PRODUCER = "run `asc experiment=sensitivity` (a runs block with `sensitivity: [ratios]`) to produce it"


def base_criterion(criterion: str, ratio: str) -> str:
    """The criterion's name less the `` 25%`` that asc.report.queries.with_ratio_labels appends to it."""
    return re.sub(rf" {re.escape(f'{100 * float(ratio):g}')}%$", "", str(criterion)) if ratio else criterion


def sensitivity_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The scan's rows of ``df`` (one dataset's results rows), with ``criterion`` its plain name and a string
    ``ratio_label`` column ("0.25"); MissingResultsError when there are none (see the module docstring)."""
    if "ratio" not in df or df.empty:
        raise MissingResultsError(f"the results table has no ratio column; {PRODUCER}")
    rows = hard_labels(df[df["stage"].isin(["prune", "finetune"])])
    ratio = rows["ratio"].map(ratio_of)
    empty = pd.Series("", index=rows.index)
    steps = [
        schedule_label(s, k)
        for s, k in zip(rows.get("prune_step", empty), rows.get("prune_steps", empty), strict=True)
    ]
    rows = rows[ratio.ne("").to_numpy() & (pd.Series(steps, index=rows.index) == "").to_numpy()].copy()
    rows["ratio_label"] = rows["ratio"].map(ratio_of)
    rows["criterion"] = [
        base_criterion(c, r) for c, r in zip(rows["criterion"], rows["ratio_label"], strict=True)
    ]
    points = rows.groupby(["criterion", "layers"])["ratio_label"].transform("nunique")
    rows = rows[points >= 2]
    if rows.empty:
        raise MissingResultsError(f"no criterion × layer set pruned at two ratios or more; {PRODUCER}")
    return rows


def sensitivity_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per criterion × layer set × ratio: the share removed (%), the remaining parameters and MACs
    (% of the unpruned network), the metric (accuracy or mAP, in %) before fine-tuning and after it, one column
    per fine-tuning subset (``100%``, ``split25``), mean ± std over repeats (one value: no ± part)."""
    rows = sensitivity_rows(one_network(df, "the sensitivity table"))
    metric = task_of_rows(rows).metric
    name = "Acc." if metric == "accuracy" else metric
    tuned = rows[rows["stage"] == "finetune"]
    labels = subsets(tuned)
    order = sorted(
        set(labels), key=lambda s: (not s.endswith("%"), -float(s[:-1]) if s.endswith("%") else 0, s)
    )
    lines = []
    keys = rows[["criterion", "layers", "ratio_label"]].drop_duplicates()
    keys = sorted(keys.itertuples(index=False), key=lambda k: (k[0], layer_key(k[1]), float(k[2])))
    for criterion, layers, ratio in keys:
        mine = rows[
            (rows["criterion"] == criterion) & (rows["layers"] == layers) & (rows["ratio_label"] == ratio)
        ]
        pruned = mine[mine["stage"] == "prune"]
        first = mine.iloc[0]
        line = Line(
            {
                "Criterion": criterion,
                "Layers": layers,
                "Removed (%)": f"{100 * float(ratio):g}",
                "Params (%)": f"{100 - float(first['params_reduction_pct']):.1f}",
                "MACs (%)": f"{100 - float(first['macs_reduction_pct']):.1f}",
            }
        )
        line.stats(f"{name} before FT (%)", pruned[metric])
        for subset in order:
            here = mine[mine.index.isin(tuned.index[labels == subset])]
            line.stats(f"{name} FT {subset} (%)", here[metric])
        lines.append(line)
    table = lines_table(lines)
    table.attrs["notes"] = [
        "each layer set pruned alone at each share of its filters removed (one shot); FT: after fine-tuning on "
        "that share of the training data, mean ± std over repeats; Params/MACs: % of the unpruned network's"
    ]
    return table
