"""The sensitivity figure (issue 27 §4): accuracy (or mAP) against the cost left after pruning, one panel per layer
set (C1, C2, C3, all together), one line per criterion; the top row's x is the parameters left, the bottom row's the
MACs left (both % of the unpruned network, so a layer set's points sit where its pruning actually saves). Solid:
after fine-tuning (on all the training data; mean over repeats, bars: 95 % t interval); dashed and lighter: before
it; the unpruned baseline as a dashed grey line with its band and a star at 100 %. Its rows are those of the
sensitivity table (asc/report/tables_sensitivity.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report.compare import mean_ci
from asc.report.figures.accuracy import one_kind
from asc.report.figures.style import LABELS, STYLE, ci_err, criterion_colors, draw_reference, save_figure
from asc.report.networks import one_network
from asc.report.queries import for_dataset, layer_key, select
from asc.report.tables_sensitivity import sensitivity_rows

__all__ = ["AXES", "draw_sensitivity", "sensitivity_figure"]

AXES = (  # (row's x: the reduction column the left share is 100 minus, its axis label)
    ("params_reduction_pct", "Parameters left (%)"),
    ("macs_reduction_pct", "MACs left (%)"),
)


def _curve(rows: pd.DataFrame, metric: str, column: str) -> tuple[list[float], list]:
    """(the cost left in % at each ratio, their MeanCI of ``metric`` in %) of one criterion × layer set's rows,
    by ascending ratio (so by descending cost left)."""
    ratios = sorted({float(r) for r in rows["ratio_label"]})
    at = [rows[rows["ratio_label"].astype(float) == r] for r in ratios]
    return [100 - float(a[column].astype(float).mean()) for a in at], [
        mean_ci(a[metric], scale=100.0) for a in at
    ]


def draw_sensitivity(df: pd.DataFrame, *, dataset: str | None = None) -> plt.Figure:
    """The figure (2 rows × one column per layer set; each panel one errorbar line per criterion after fine-tuning
    and one before); MissingResultsError when ``df`` holds no scan (asc.report.tables_sensitivity.sensitivity_rows)."""
    df = one_network(for_dataset(df, dataset), "the sensitivity figure")
    rows = sensitivity_rows(df)
    metric = task_of_rows(rows).metric
    tuned = rows[rows["stage"] == "finetune"]
    if len(tuned):
        full = np.isclose(tuned["fraction"].astype(float), tuned["fraction"].astype(float).max())
        tuned = one_kind(tuned[full])[0]
    pruned = rows[rows["stage"] == "prune"]
    criteria = sorted(set(rows["criterion"]))
    layer_sets = sorted(set(rows["layers"]), key=layer_key)
    colors = criterion_colors(criteria)
    baseline = select(df, stage="baseline")[metric]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(AXES),
            len(layer_sets),
            figsize=(2.3 * len(layer_sets) + 1.2, 2.3 * len(AXES)),
            sharey=True,
            squeeze=False,
            layout="constrained",  # the rows' x labels clear of the next row
        )
        for i, (row, (column, xlabel)) in enumerate(zip(axes, AXES, strict=True)):
            for ax, layers in zip(row, layer_sets, strict=True):
                for criterion in criteria:
                    for part, style in (
                        (pruned, {"ls": "--", "alpha": 0.5, "marker": "x"}),
                        (tuned, {"ls": "-", "marker": "o"}),
                    ):
                        mine = part[(part["criterion"] == criterion) & (part["layers"] == layers)]
                        if mine.empty:
                            continue
                        x, stats = _curve(mine, metric, column)
                        ax.errorbar(
                            x,
                            [s.mean for s in stats],
                            yerr=ci_err(stats),
                            color=colors[criterion],
                            ms=3,
                            lw=1,
                            capsize=2,
                            label=LABELS.get(criterion, criterion) if part is tuned or tuned.empty else None,
                            **style,
                        )
                draw_reference(ax, baseline)
                if len(baseline):
                    ax.plot([100.0], [100 * float(baseline.mean())], "*", color="0.3", ms=6, zorder=3)
                if i == 0:  # the columns' titles
                    ax.set_title(f"{layers} pruned", fontsize=8)
                ax.set_xlabel(xlabel)
        name = "Accuracy" if metric == "accuracy" else metric
        for row in axes:
            row[0].set_ylabel(f"{name} (%)" + ("" if tuned.empty else "\ndashed: before fine-tuning"))
        axes[0][-1].legend(
            title="Criterion", loc="upper left", bbox_to_anchor=(1.02, 1.0)
        )  # clear of the lines
    return fig


def sensitivity_figure(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` of :func:`draw_sensitivity`; MissingResultsError when ``df`` holds no
    scan."""
    fig = draw_sensitivity(df, dataset=dataset)
    with plt.rc_context(STYLE):
        return save_figure(fig, stem)
