"""The cost figure: accuracy against MACs and against measured latency, the Pareto front marked.

Vertical bars are 95 % t intervals of the mean accuracy (none for n = 1); horizontal bars on the latency panel
are the interquartile range over the interleaved rounds (``latency.csv``). Models at the same cost (criteria
that keep equal widths) are shifted sideways by a few points so each stays visible."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.cost_views import cost_points, latency_columns_in, pareto_mask, spread_notes
from asc.figures.style import CI_LABEL, COLORS, LABELS, STYLE, errorbar_dodged, save_figure
from asc.results import MissingResultsError, for_dataset


def _criterion_colors(criteria) -> dict[str, str]:
    """The paper figures' colours for cosine/l1/random, distinct tab10 colours for every other criterion."""
    taken = set(COLORS.values())
    spare = iter(c for c in map(matplotlib.colors.to_hex, plt.get_cmap("tab10").colors) if c not in taken)
    colors = {"none": "black"}
    for crit in criteria:
        colors.setdefault(crit, COLORS.get(crit) or next(spare, "0.5"))
    return colors


def _cost_panel(
    ax: plt.Axes, points: pd.DataFrame, column: str, scale: float, colors: dict[str, str]
) -> None:
    """Accuracy against one cost column: a marker per model (hollow = not fine-tuned), the front stepped."""
    q1, q3 = column.replace("_ms", "_q1_ms"), column.replace("_ms", "_q3_ms")
    spread = q1 in points and q3 in points
    # Models at one cost (equal widths) are drawn side by side, in a fixed order.
    slot = points.groupby(points[column].round(9), sort=False).cumcount()
    count = points.groupby(points[column].round(9), sort=False)[column].transform("size")
    for (_, p), i, k in zip(points.iterrows(), slot, count, strict=True):
        base, color = p["criterion"] == "none", colors[p["criterion"]]
        half = p["acc_high"] - p["accuracy"] if np.isfinite(p["acc_high"]) else 0.0
        xerr = [[(p[column] - p[q1]) / scale], [(p[q3] - p[column]) / scale]] if spread else None
        errorbar_dodged(
            ax,
            i,
            k,
            p[column] / scale,
            p["accuracy"],
            yerr=half,
            xerr=xerr,
            marker="*" if base else "o",
            ms=7 if base else 4,
            color=color,
            mfc=color if p["basis"] != "no FT" else "white",
            capsize=1.5,
            lw=0.8,
            ls="",
        )
    front = points[pareto_mask(points[column], points["accuracy"])].sort_values(column)
    ax.step(front[column] / scale, front["accuracy"], where="post", color="0.4", lw=0.8, ls="--", zorder=0)
    ax.plot(front[column] / scale, front["accuracy"], "o", ms=9, mfc="none", mec="0.2", mew=0.7)
    for i, (_, p) in enumerate(front.iterrows()):  # alternate below/above: neighbours on the front are close
        ax.annotate(
            p["layers"] or "unpruned",
            (p[column] / scale, p["accuracy"]),
            xytext=(4, -8 if i % 2 else 5),
            textcoords="offset points",
            fontsize=5.5,
            color="0.2",
        )
    ax.grid(alpha=0.3, lw=0.5)


def cost_pareto(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy against MACs and against measured latency for every model, the Pareto front marked."""
    df = for_dataset(df, dataset)
    points = cost_points(df)
    points = points[points["macs"].notna()] if not points.empty else points
    if points.empty:
        raise MissingResultsError(
            "the cost figure needs model rows with accuracy and MACs; run `asc` (the demo) or "
            "`asc experiment=paper_fig3`"
        )
    latencies = latency_columns_in(points)
    panels = [("macs", 1e6, "MACs per clip (M)")]
    if latencies:
        backend, batch = latencies[0].split("_")[1:3]
        name = {"cpu": "PyTorch CPU", "ort": "onnxruntime CPU", "cuda": "PyTorch CUDA"}.get(backend, backend)
        panels.append(
            (latencies[0], 1.0, f"Latency (ms; median, IQR over rounds), {name}, batch {batch[1:]}")
        )
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 2.8), sharey=True, squeeze=False)
        colors = _criterion_colors(points["criterion"])
        base = points[points["baseline"]]
        unpruned = "Unpruned"
        if len(base):
            b = base.iloc[0]
            spread = f" ± {b['accuracy_std']:.1f}%, n = {b['n']}; bar: 95% CI" if b["n"] > 1 else "%, n = 1"
            unpruned += f" ({b['accuracy']:.1f}{spread})"
        for ax, (column, scale, label) in zip(axes[0], panels, strict=True):
            _cost_panel(ax, points[points[column].notna()], column, scale, colors)
            ax.set_xlabel(label)
            if column != "macs" and spread_notes(points, [column]):
                note = "IQRs of neighbouring models overlap: this latency order is within the noise"
                ax.set_title(note, fontsize=5.5, color="firebrick", loc="right")
        axes[0][0].set_ylabel(f"Accuracy (%; {CI_LABEL})")
        handles = [
            plt.Line2D(
                [],
                [],
                ls="",
                marker="*" if c == "none" else "o",
                ms=6 if c == "none" else 4,
                color=colors[c],
                label=unpruned if c == "none" else LABELS.get(c, c),
            )
            for c in dict.fromkeys(points["criterion"])
        ]
        handles += [
            plt.Line2D([], [], ls="", marker="o", ms=4, mfc="white", color="0.3", label="Not fine-tuned"),
            plt.Line2D(
                [], [], ls="--", marker="o", ms=7, mfc="none", color="0.3", lw=0.8, label="Pareto front"
            ),
        ]
        fig.legend(
            handles=handles,
            frameon=False,
            ncol=min(len(handles), 5),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
        )
        fig.tight_layout()
        return save_figure(fig, stem)
