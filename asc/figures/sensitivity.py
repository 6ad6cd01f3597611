"""The sensitivity figure: accuracy (or mAP) against the share of filters removed, one panel per criterion, one
line per layer set; solid after fine-tuning (on all the training data; mean over repeats, bars: 95 % t interval),
dashed and lighter before it; the unpruned baseline as a dashed grey line with its band. Its rows are those of the
sensitivity table (asc/tables_sensitivity.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.compare import mean_ci
from asc.figures.accuracy import one_kind
from asc.figures.style import LABELS, STYLE, ci_err, draw_reference, save_figure
from asc.results import for_dataset, layer_key, select
from asc.tables_sensitivity import sensitivity_rows
from asc.tasks import task_of_rows

__all__ = ["sensitivity_figure"]


def _curve(rows: pd.DataFrame, metric: str) -> tuple[list[float], list]:
    """(ratios in %, their MeanCI of ``metric`` in %) of one criterion × layer set's rows, ascending."""
    ratios = sorted({float(r) for r in rows["ratio_label"]})
    return [100 * r for r in ratios], [
        mean_ci(rows[rows["ratio_label"].astype(float) == r][metric], scale=100.0) for r in ratios
    ]


def sensitivity_figure(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; MissingResultsError when ``df`` holds no scan (see
    asc.tables_sensitivity.sensitivity_rows)."""
    df = for_dataset(df, dataset)
    rows = sensitivity_rows(df)
    metric = task_of_rows(rows).metric
    tuned = rows[rows["stage"] == "finetune"]
    tuned = (
        one_kind(tuned[np.isclose(tuned["fraction"].astype(float), tuned["fraction"].astype(float).max())])[0]
        if len(tuned)
        else tuned
    )
    pruned = rows[rows["stage"] == "prune"]
    criteria = sorted(set(rows["criterion"]))
    layer_sets = sorted(set(rows["layers"]), key=layer_key)
    colors = dict(zip(layer_sets, plt.get_cmap("tab10").colors, strict=False))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(criteria), figsize=(2.6 * len(criteria) + 0.6, 2.6), sharey=True, squeeze=False
        )
        for ax, criterion in zip(axes[0], criteria, strict=True):
            for layers in layer_sets:
                color = colors[layers]
                for part, style in (
                    (pruned, {"ls": "--", "alpha": 0.5, "marker": "x"}),
                    (tuned, {"ls": "-", "marker": "o"}),
                ):
                    mine = part[(part["criterion"] == criterion) & (part["layers"] == layers)]
                    if mine.empty:
                        continue
                    x, stats = _curve(mine, metric)
                    label = layers if part is tuned or tuned.empty else None
                    ax.errorbar(
                        x,
                        [s.mean for s in stats],
                        yerr=ci_err(stats),
                        color=color,
                        ms=3,
                        lw=1,
                        capsize=2,
                        label=label,
                        **style,
                    )
            draw_reference(ax, select(df, stage="baseline")[metric])
            ax.set_title(LABELS.get(criterion, criterion))
            ax.set_xlabel("Filters removed (%)")
        name = "Accuracy" if metric == "accuracy" else metric
        axes[0][0].set_ylabel(f"{name} (%)" + ("" if tuned.empty else "; dashed: before fine-tuning"))
        axes[0][-1].legend(
            title="Layers pruned", loc="upper left", bbox_to_anchor=(1.02, 1.0)
        )  # clear of the lines
        return save_figure(fig, stem)
