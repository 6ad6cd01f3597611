"""Figures of accuracy against what was pruned and how: Fig. 3 (layer sets), Fig. 5 (cosine vs l1-norm) and
Fig. 6 (fraction of the training data used for fine-tuning). Error bars are 95 % Student t intervals of the
mean over repeats (none for n = 1); the unpruned baseline is its mean with its interval as a band."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.compare import MeanCI, mean_ci
from asc.figures.style import (
    CI_LABEL,
    COLORS,
    LABELS,
    MARKERS,
    STYLE,
    ci_err,
    coinciding,
    draw_reference,
    errorbar_dodged,
    save_figure,
)
from asc.results import MissingResultsError, for_dataset, select, sort_layer_sets

ALL_LAYERS = "C1+C2+C3"


def _draw_baseline(ax: plt.Axes, df: pd.DataFrame) -> None:
    draw_reference(ax, select(df, stage="baseline")["accuracy"])


def _reduction(df: pd.DataFrame, criterion: str, layers: str, column: str) -> float:
    rows = select(df, criterion=criterion, layers=layers)
    values = rows[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def _acc(rows: pd.DataFrame) -> MeanCI:
    return mean_ci(rows["accuracy"], scale=100.0)


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


def fig3_layer_sets(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy with and without fine-tuning for each cosine-pruned layer set, MAC/param reductions on x."""
    df = for_dataset(df, dataset)
    before = select(df, stage="prune", criterion="cosine", finetuned=False)
    after = select(df, criterion="cosine", finetuned=True, fraction=1.0)
    if before.empty or after.empty:
        raise MissingResultsError(
            "Fig. 3 needs cosine-pruned rows with and without fine-tuning (fraction 1.0) for layer sets "
            "C1, C2, C3, C1+C2, ..., C1+C2+C3; run `asc experiment=paper_fig3`"
        )
    layer_sets = sort_layer_sets(list(before["layers"]) + list(after["layers"]))
    pre = [_acc(before[before["layers"] == ls]).mean for ls in layer_sets]
    post = [_acc(after[after["layers"] == ls]) for ls in layer_sets]
    ticks = [
        f"{ls} ({_reduction(df, 'cosine', ls, 'macs_paper_reduction_pct'):.1f}%)\n"
        f"params −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%"
        for ls in layer_sets
    ]
    x = np.arange(len(layer_sets))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 1.15 * len(layer_sets) + 0.8), 2.6))
        b1 = ax.bar(x - 0.2, pre, 0.4, color=COLORS["before"], label="Without fine-tuning")
        b2 = ax.bar(
            x + 0.2,
            [m.mean for m in post],
            0.4,
            yerr=ci_err(post),
            capsize=2,
            color=COLORS["cosine"],
            error_kw={"lw": 0.8},
            label=f"With fine-tuning (mean; {CI_LABEL})",
        )
        _bar_labels(ax, b1, pre)
        _bar_labels(ax, b2, [m.mean for m in post], inside=True)
        _draw_baseline(ax, df)
        ax.set_xticks(x, ticks)
        ax.set_xlabel("Pruned layers (MAC reduction, paper convention)")
        ax.set_ylabel("Accuracy (%)")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
        ax.legend(frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.15))
        fig.tight_layout()
        return save_figure(fig, stem)


def fig5_cosine_vs_l1(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy after fine-tuning on all data, cosine vs l1-norm, for each pruned layer set."""
    df = for_dataset(df, dataset)
    rows = select(df, criterion=["cosine", "l1"], finetuned=True, fraction=1.0)
    if set(rows["criterion"]) != {"cosine", "l1"}:
        raise MissingResultsError(
            "Fig. 5 needs fine-tuned rows (fraction 1.0) for both cosine and l1 pruning; "
            "run `asc experiment=paper_fig5`"
        )
    layer_sets = sort_layer_sets(rows["layers"])
    x = np.arange(len(layer_sets))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 0.8 * len(layer_sets) + 0.8), 2.5))
        lows, highs = [], []
        for offset, crit in ((-0.2, "cosine"), (0.2, "l1")):
            stats = [_acc(rows[(rows["criterion"] == crit) & (rows["layers"] == ls)]) for ls in layer_sets]
            means, errs = [m.mean for m in stats], ci_err(stats)
            bar_style = {"capsize": 2, "color": COLORS[crit], "error_kw": {"lw": 0.8}, "label": LABELS[crit]}
            ax.bar(x + offset, means, 0.4, yerr=errs, **bar_style)
            lows += [m - e for m, e in zip(means, errs, strict=True) if np.isfinite(m)]
            highs += [m + e for m, e in zip(means, errs, strict=True) if np.isfinite(m)]
        # Zoom in (the y axis does not start at 0): the criteria differ by ~1 %, invisible on a 0–100 axis.
        ax.set_ylim(max(0.0, np.floor(min(lows) - 3)), max(highs) + 1)
        _draw_baseline(ax, df)
        ticks = [
            f"{ls}\nparams −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%" for ls in layer_sets
        ]
        ax.set_xticks(x, ticks)
        ax.set_xlabel("Pruned layers")
        ax.set_ylabel("Accuracy after fine-tuning (%)")
        ax.legend(frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.15), title=CI_LABEL)
        fig.tight_layout()
        return save_figure(fig, stem)


def fig6_fractions(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy (left) and fine-tuning time (right) vs the fraction of training data, pruning C1+C2+C3.

    Criteria that keep equal widths train in the same time, so their time curves coincide: every series has
    its own marker and is shifted sideways by a few points, and a panel names the series it drew side by side."""
    df = for_dataset(df, dataset)
    crits = ["cosine", "l1", "random"]
    rows = select(df, criterion=crits, layers=ALL_LAYERS, finetuned=True)
    rows = rows[rows["fraction"].notna()]
    if rows.empty:
        raise MissingResultsError(
            f"Fig. 6 needs fine-tuned rows at several data fractions for {ALL_LAYERS} pruned with cosine, l1 "
            "and random; run `asc experiment=paper_fig6`"
        )
    fractions = np.sort(rows["fraction"].unique())
    present = [c for c in crits if c in set(rows["criterion"])]
    means: dict[str, dict[str, dict[float, float]]] = {"acc": {}, "time": {}}
    with plt.rc_context(STYLE):
        fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(7.0, 2.5))
        for i, crit in enumerate(present):
            sub = rows[rows["criterion"] == crit]
            fr = [f for f in fractions if np.isclose(sub["fraction"], f).any()]
            at = [sub[np.isclose(sub["fraction"], f)] for f in fr]
            acc, tim = [_acc(r) for r in at], [mean_ci(r["train_time_s"]) for r in at]
            xs = np.asarray(fr) * 100
            style = {
                "color": COLORS[crit],
                "marker": MARKERS.get(crit, "o"),
                "ms": 3.5,
                "capsize": 2,
                "lw": 1.1,
            }
            for ax, key, stats in ((ax_acc, "acc", acc), (ax_time, "time", tim)):
                ys = [m.mean for m in stats]
                means[key][crit] = dict(zip(fr, ys, strict=True))
                errorbar_dodged(ax, i, len(present), xs, ys, yerr=ci_err(stats), label=LABELS[crit], **style)
            no_ft = _acc(select(df, stage="prune", criterion=crit, layers=ALL_LAYERS, finetuned=False)).mean
            if np.isfinite(no_ft):
                # Nudge the markers apart: l1 and random often both sit at chance level.
                x0 = 1.5 * (crits.index(crit) - 1)
                ax_acc.plot([x0], [no_ft], marker="D", ms=4, mfc="white", mec=COLORS[crit], ls="")
        has_no_ft = any(line.get_marker() == "D" for line in ax_acc.lines)
        if has_no_ft:
            ax_acc.plot([], [], marker="D", ms=4, mfc="white", mec="0.3", ls="", label="No fine-tuning (0%)")
        _draw_baseline(ax_acc, df)
        ticks = [0.0] * has_no_ft + [f * 100 for f in fractions]
        ax_acc.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax_time.set_xticks(ticks[has_no_ft:], [f"{t:g}" for t in ticks[has_no_ft:]])
        # Where each panel is empty: accuracy rises from the lower left, time from the lower left to the right.
        corners = {"acc": ((0.02, 0.97), "left", "top", -1), "time": ((0.98, 0.03), "right", "bottom", 1)}
        for ax, key in ((ax_acc, "acc"), (ax_time, "time")):
            ax.set_xlabel("Fine-tuning data (% of training set)")
            ax.grid(alpha=0.3, lw=0.5)
            lo, hi = ax.get_ylim()
            (x, y), ha, va, step = corners[key]
            for j, group in enumerate(coinciding(means[key], tol=0.01 * (hi - lo))):
                ax.annotate(
                    f"{', '.join(LABELS[c] for c in group)}: equal within 1% of the axis, drawn side by side",
                    (x, y + step * 0.08 * j),
                    xycoords="axes fraction",
                    ha=ha,
                    va=va,
                    fontsize=5.5,
                    color="0.3",
                )
        ax_acc.set_ylabel("Accuracy (%)")
        ax_time.set_ylabel("Fine-tuning time (s)")
        ax_time.set_ylim(bottom=0)
        ax_acc.legend(frameon=False, loc="best", title=CI_LABEL, title_fontsize=6)
        ax_time.legend(frameon=False, loc="upper left")
        fig.tight_layout()
        return save_figure(fig, stem)
