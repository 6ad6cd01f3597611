"""Figures of accuracy against what was pruned and how: Fig. 3 (layer sets), Fig. 5 (cosine vs l1-norm) and
Fig. 6 (fraction of the training data used for fine-tuning)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.figures.style import COLORS, LABELS, STYLE, save_figure
from asc.results import MissingResultsError, for_dataset, mean_std, select, sort_layer_sets

ALL_LAYERS = "C1+C2+C3"


def _baseline_pct(df: pd.DataFrame) -> float:
    return mean_std(select(df, stage="baseline")["accuracy"] * 100)[0]


def _draw_baseline(ax: plt.Axes, df: pd.DataFrame) -> None:
    base = _baseline_pct(df)
    if np.isfinite(base):
        ax.axhline(base, color="0.3", ls="--", lw=0.9, label=f"Unpruned ({base:.1f}%)", zorder=1)
        lo, hi = ax.get_ylim()  # axhline does not autoscale: keep the line off the top edge
        if base > hi - 0.05 * (hi - lo):
            ax.set_ylim(lo, base + 0.08 * (hi - lo))


def _reduction(df: pd.DataFrame, criterion: str, layers: str, column: str) -> float:
    rows = select(df, criterion=criterion, layers=layers)
    values = rows[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def _acc(rows: pd.DataFrame) -> tuple[float, float, int]:
    return mean_std(rows["accuracy"] * 100)


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
    pre = [_acc(before[before["layers"] == ls])[0] for ls in layer_sets]
    post = [_acc(after[after["layers"] == ls]) for ls in layer_sets]
    ticks = [
        f"{ls} ({_reduction(df, 'cosine', ls, 'macs_paper_reduction_pct'):.1f}%)\n"
        f"params −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%"
        for ls in layer_sets
    ]
    x = np.arange(len(layer_sets))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 0.95 * len(layer_sets) + 0.8), 2.6))
        b1 = ax.bar(x - 0.2, pre, 0.4, color=COLORS["before"], label="Without fine-tuning")
        b2 = ax.bar(
            x + 0.2,
            [m for m, _, _ in post],
            0.4,
            yerr=[s for _, s, _ in post],
            capsize=2,
            color=COLORS["cosine"],
            error_kw={"lw": 0.8},
            label="With fine-tuning (mean ± std)",
        )
        _bar_labels(ax, b1, pre)
        _bar_labels(ax, b2, [m for m, _, _ in post], inside=True)
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
            means, stds = [m for m, _, _ in stats], [s for _, s, _ in stats]
            bar_style = {"capsize": 2, "color": COLORS[crit], "error_kw": {"lw": 0.8}, "label": LABELS[crit]}
            ax.bar(x + offset, means, 0.4, yerr=stds, **bar_style)
            lows += [m - s for m, s in zip(means, stds, strict=True) if np.isfinite(m)]
            highs += [m + s for m, s in zip(means, stds, strict=True) if np.isfinite(m)]
        # Zoom in (the y axis does not start at 0): the criteria differ by ~1 %, invisible on a 0–100 axis.
        ax.set_ylim(max(0.0, np.floor(min(lows) - 3)), max(highs) + 1)
        _draw_baseline(ax, df)
        ticks = [
            f"{ls}\nparams −{_reduction(df, 'cosine', ls, 'params_reduction_pct'):.0f}%" for ls in layer_sets
        ]
        ax.set_xticks(x, ticks)
        ax.set_xlabel("Pruned layers")
        ax.set_ylabel("Accuracy after fine-tuning (%)")
        ax.legend(frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.15))
        fig.tight_layout()
        return save_figure(fig, stem)


def fig6_fractions(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy (left) and fine-tuning time (right) vs the fraction of training data, pruning C1+C2+C3."""
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
    with plt.rc_context(STYLE):
        fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(7.0, 2.5))
        for crit in [c for c in crits if c in set(rows["criterion"])]:
            sub = rows[rows["criterion"] == crit]
            fr = [f for f in fractions if np.isclose(sub["fraction"], f).any()]
            acc = [_acc(sub[np.isclose(sub["fraction"], f)]) for f in fr]
            tim = [mean_std(sub[np.isclose(sub["fraction"], f)]["train_time_s"]) for f in fr]
            xs = np.asarray(fr) * 100
            style = {"color": COLORS[crit], "marker": "o", "ms": 3.5, "capsize": 2, "lw": 1.1}
            for ax, stats in ((ax_acc, acc), (ax_time, tim)):
                ax.errorbar(
                    xs, [m for m, _, _ in stats], yerr=[s for _, s, _ in stats], label=LABELS[crit], **style
                )
            no_ft = _acc(select(df, stage="prune", criterion=crit, layers=ALL_LAYERS, finetuned=False))[0]
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
        for ax in (ax_acc, ax_time):
            ax.set_xlabel("Fine-tuning data (% of training set)")
            ax.grid(alpha=0.3, lw=0.5)
        ax_acc.set_ylabel("Accuracy (%)")
        ax_time.set_ylabel("Fine-tuning time (s)")
        ax_time.set_ylim(bottom=0)
        ax_acc.legend(frameon=False, loc="lower right")
        ax_time.legend(frameon=False, loc="upper left")
        fig.tight_layout()
        return save_figure(fig, stem)
