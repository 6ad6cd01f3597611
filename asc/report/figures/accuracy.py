"""Figures of accuracy against what was pruned and how: Fig. 3 (layer sets), Fig. 5 (cosine vs l1-norm) and
Fig. 6 (fraction of the training data used for fine-tuning). Error bars are 95 % Student t intervals of the
mean over repeats (none for n = 1); the unpruned baseline is its mean with its interval as a band."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report.compare import MeanCI, mean_ci
from asc.report.figures.fit_time import time_panel, time_series
from asc.report.figures.style import (
    COLORS,
    LABELS,
    MARKERS,
    STYLE,
    ci_err,
    ci_note,
    coinciding,
    draw_reference,
    errorbar_dodged,
    n_text,
    save_figure,
)
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, for_dataset, hard_labels, select, sort_layer_sets

ALL_LAYERS = "C1+C2+C3"


def _draw_baseline(ax: plt.Axes, df: pd.DataFrame, metric: str) -> None:
    draw_reference(ax, select(df, stage="baseline")[metric])


def _reduction(df: pd.DataFrame, criterion: str, layers: str, column: str) -> float:
    rows = select(df, criterion=criterion, layers=layers)
    values = rows[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def _acc(rows: pd.DataFrame, metric: str) -> MeanCI:
    """The task's metric (accuracy or mAP, asc.data.tasks) of ``rows`` in %."""
    return mean_ci(rows[metric], scale=100.0)


def _bar_labels(ax: plt.Axes, bars, values: list[float], inside: bool = False) -> None:
    """Print each bar's value: above it, or just inside its top (clear of error bars and reference lines)."""
    for bar, v in zip(bars, values, strict=True):
        if np.isfinite(v):
            xy = (bar.get_x() + bar.get_width() / 2, v)
            offset, va, color = ((0, -3), "top", "white") if inside else ((0, 2), "bottom", "black")
            ax.annotate(
                f"{v:.1f}",
                xy,
                xytext=offset,
                textcoords="offset points",
                ha="center",
                va=va,
                fontsize=5.5,
                color=color,
            )


def one_kind(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The fine-tuned rows of one kind of subset, never both: our stratified fractions when there are any, else
    the official splits (a fraction and a split of one share are different data, not repeats); and the axis
    label that says which."""
    ours = rows["split"].astype(str) == ""
    if ours.any():
        return rows[ours], "Fine-tuning data (% of training set, stratified)"
    return rows[~ours], "Fine-tuning data (official DCASE 2024 split, % of fold1_train)"


def _all_data(df: pd.DataFrame, criterion) -> pd.DataFrame:
    """Fine-tuned rows on all the training data: our fraction 1.0, else the official split100 (one kind)."""
    rows = select(df, criterion=criterion, finetuned=True, fraction=1.0)
    return one_kind(rows)[0] if not rows.empty else rows


def fig3_layer_sets(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy with and without fine-tuning for each cosine-pruned layer set, MAC/param reductions on x."""
    df = hard_labels(
        one_network(for_dataset(df, dataset), "the accuracy figures")
    )  # distilled rows are another training (the tables show them)
    task = task_of_rows(df)
    before = select(df, stage="prune", criterion="cosine", finetuned=False)
    after = _all_data(df, "cosine")
    if before.empty or after.empty:
        raise MissingResultsError(
            "Fig. 3 needs cosine-pruned rows with and without fine-tuning (fraction 1.0) for layer sets "
            "C1, C2, C3, C1+C2, ..., C1+C2+C3; run `asc experiment=paper_fig3`"
        )
    layer_sets = sort_layer_sets(list(before["layers"]) + list(after["layers"]))
    pre = [_acc(before[before["layers"] == ls], task.metric).mean for ls in layer_sets]
    post = [_acc(after[after["layers"] == ls], task.metric) for ls in layer_sets]
    ticks = [
        f"{ls} ({_reduction(df, 'cosine', ls, 'macs_paper_reduction_pct'):.1f}%)\n"
        f"params −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%"
        for ls in layer_sets
    ]
    x = np.arange(len(layer_sets))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 1.15 * len(layer_sets) + 0.8), 2.8), layout="constrained")
        n_pre = [len(before[before["layers"] == ls]) for ls in layer_sets]
        b1 = ax.bar(
            x - 0.2, pre, 0.4, color=COLORS["before"], label=f"Without fine-tuning (mean, {n_text(n_pre)})"
        )
        b2 = ax.bar(
            x + 0.2,
            [m.mean for m in post],
            0.4,
            yerr=ci_err(post),
            capsize=2,
            color=COLORS["cosine"],
            error_kw={"lw": 0.8},
            label=f"With fine-tuning (mean, {ci_note(post)})",
        )
        _bar_labels(ax, b1, pre)
        _bar_labels(ax, b2, [m.mean for m in post], inside=True)
        _draw_baseline(ax, df, task.metric)
        ax.set_xticks(x, ticks)
        ax.set_xlabel("Pruned layers (MAC reduction, paper convention)")
        ax.set_ylabel(task.metric_label)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # bars start at 0: their lengths compare
        fig.legend(frameon=False, ncol=2, loc="outside upper center")
        return save_figure(fig, stem)


def fig5_cosine_vs_l1(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy after fine-tuning on all data, cosine vs l1-norm, for each pruned layer set."""
    df = hard_labels(
        one_network(for_dataset(df, dataset), "the accuracy figures")
    )  # distilled rows are another training (the tables show them)
    task = task_of_rows(df)
    rows = _all_data(df, ["cosine", "l1"])
    if set(rows["criterion"]) != {"cosine", "l1"}:
        raise MissingResultsError(
            "Fig. 5 needs fine-tuned rows (fraction 1.0) for both cosine and l1 pruning; "
            "run `asc experiment=paper_fig5`"
        )
    layer_sets = sort_layer_sets(rows["layers"])
    x = np.arange(len(layer_sets))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 0.8 * len(layer_sets) + 0.8), 2.7), layout="constrained")
        every = []
        for i, crit in enumerate(("cosine", "l1")):
            stats = [
                _acc(rows[(rows["criterion"] == crit) & (rows["layers"] == ls)], task.metric)
                for ls in layer_sets
            ]
            every += stats
            style = {
                "color": COLORS[crit],
                "marker": MARKERS[crit],
                "ms": 4,
                "capsize": 2,
                "lw": 0.9,
                "ls": "",
            }
            label = f"{LABELS[crit]} ({n_text([m.n for m in stats])})"
            ax.errorbar(
                x + (i - 0.5) * 0.3, [m.mean for m in stats], yerr=ci_err(stats), label=label, **style
            )
        # A dot plot, not bars: the criteria differ by ~1 %, invisible on a 0–100 axis, and a zoomed axis would
        # make bar lengths lie.
        _draw_baseline(ax, df, task.metric)
        ticks = [
            f"{ls}\nparams −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%" for ls in layer_sets
        ]
        ax.set_xticks(x, ticks)
        ax.set_xlim(-0.6, len(layer_sets) - 0.4)
        ax.grid(axis="y", alpha=0.3, lw=0.5)
        ax.set_xlabel("Pruned layers")
        ax.set_ylabel(f"{task.metric_label[:-4]} after fine-tuning (%)")
        fig.legend(frameon=False, ncol=3, loc="outside upper center", title=ci_note(every))
        return save_figure(fig, stem)


FIG6_CRITERIA = ["cosine", "l1", "random"]


def fig6_fractions(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy (left) and fine-tuning time (right) vs the fraction of training data, pruning C1+C2+C3.

    Criteria that keep equal widths train in the same time: when every criterion's time curve coincides, the
    time panel draws their pooled time as one line (its label says so); when the time does not vary with the
    fraction either, or no row has one, there is no time panel. Accuracy series that coincide are shifted
    sideways by a few points, and the panel names them."""
    df = hard_labels(
        one_network(for_dataset(df, dataset), "the accuracy figures")
    )  # distilled rows are another training (the tables show them)
    task = task_of_rows(df)
    rows = select(df, criterion=FIG6_CRITERIA, layers=ALL_LAYERS, finetuned=True)
    rows, xlabel = one_kind(rows[rows["fraction"].notna()])
    if rows.empty:
        raise MissingResultsError(
            f"Fig. 6 needs fine-tuned rows at several data fractions for {ALL_LAYERS} pruned with cosine, l1 "
            "and random; run `asc experiment=paper_fig6`"
        )
    fractions = np.sort(rows["fraction"].unique())
    present = [c for c in FIG6_CRITERIA if c in set(rows["criterion"])]
    times = time_series(rows, present, fractions)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, 2 if times else 1, figsize=(7.0 if times else 3.6, 2.6), layout="constrained"
        )
        ax_acc, ax_time = (axes[0], axes[1]) if times else (axes, None)
        means, every = _fraction_panel(ax_acc, df, rows, present, fractions, task)
        for ax in [ax_acc] + ([ax_time] if times else []):
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3, lw=0.5)
        if times:
            time_panel(ax_time, times, fractions)
        # One legend outside the panels, its title the interval note and the coinciding series: nothing is
        # written over the data, and no two texts share a place.
        handles, labels = ax_acc.get_legend_handles_labels()
        if times:
            more = ax_time.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + [f"Time: {t}" for t in more[1]]
        title = "\n".join([ci_note(every), *_coinciding_notes(ax_acc, means)])
        fig.legend(
            handles, labels, frameon=False, loc="outside lower center", ncol=2, title=title, title_fontsize=6
        )
        return save_figure(fig, stem)


def _fraction_panel(
    ax: plt.Axes, df: pd.DataFrame, rows: pd.DataFrame, present: list[str], fractions, task
) -> tuple[dict[str, dict[float, float]], list[MeanCI]]:
    """Fig. 6's accuracy panel: a series per criterion in ``present`` over the fine-tuning fractions, its pruned
    network before fine-tuning as an open diamond at 0 %, and the unpruned baseline's band. Returns each series'
    means by fraction (to name those that coincide) and every interval drawn (for the legend's note)."""
    means: dict[str, dict[float, float]] = {}
    every: list[MeanCI] = []
    for i, crit in enumerate(present):
        sub = rows[rows["criterion"] == crit]
        fr = [f for f in fractions if np.isclose(sub["fraction"], f).any()]
        acc = [_acc(sub[np.isclose(sub["fraction"], f)], task.metric) for f in fr]
        every += acc
        means[crit] = dict(zip(fr, [m.mean for m in acc], strict=True))
        style = {"color": COLORS[crit], "marker": MARKERS.get(crit, "o"), "ms": 3.5, "capsize": 2, "lw": 1.1}
        label = f"{LABELS[crit]} ({n_text([m.n for m in acc])})"
        errorbar_dodged(
            ax,
            i,
            len(present),
            np.asarray(fr) * 100,
            list(means[crit].values()),
            yerr=ci_err(acc),
            label=label,
            **style,
        )
        no_ft = _acc(
            select(df, stage="prune", criterion=crit, layers=ALL_LAYERS, finetuned=False), task.metric
        ).mean
        if np.isfinite(no_ft):
            # Nudge the markers apart: l1 and random often both sit at chance level.
            x0 = 1.5 * (FIG6_CRITERIA.index(crit) - 1)
            ax.plot([x0], [no_ft], marker="D", ms=4, mfc="white", mec=COLORS[crit], ls="")
    has_no_ft = any(line.get_marker() == "D" for line in ax.lines)
    if has_no_ft:
        ax.plot([], [], marker="D", ms=4, mfc="white", mec="0.3", ls="", label="No fine-tuning (0%)")
    _draw_baseline(ax, df, task.metric)
    ticks = [0.0] * has_no_ft + [f * 100 for f in fractions]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylabel(task.metric_label)
    return means, every


def _coinciding_notes(ax: plt.Axes, means: dict[str, dict[float, float]]) -> list[str]:
    """One line per group of accuracy series drawn side by side because they agree within 1 % of the axis."""
    lo, hi = ax.get_ylim()
    return [
        f"{', '.join(LABELS[c] for c in group)}: equal within 1% of the axis, drawn side by side"
        for group in coinciding(means, tol=0.01 * (hi - lo))
    ]
