"""The cost figure: accuracy against MACs and against measured latency, one Pareto front per kind of accuracy
(fine-tuned, not fine-tuned: different offers, never one front; the unpruned baseline competes in both).

Vertical bars are 95 % t intervals of the mean accuracy (none for n < 2; the axis label gives n); horizontal bars on the latency panel
are the interquartile range over the interleaved rounds (``latency.csv``). Models at the same cost (criteria
that keep equal widths) are shifted sideways by a few points so each stays visible. When the rows carry the
accuracy at deployment precision (stage ``quantise``), a cross per model marks its accuracy at the precision
the dataset's DCASE rule lets it be stored in within 128 kB (asc/deploy/quantised.py ``deployed_accuracy``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report.compare import MeanCI
from asc.report.cost_points import cost_points, latency_columns_in, pareto_fronts, spread_notes
from asc.report.cost_views import DEPLOYED
from asc.report.figures.style import LABELS, STYLE, ci_note, criterion_colors, errorbar_dodged, save_figure
from asc.report.networks import NETWORK
from asc.report.queries import MissingResultsError, for_dataset

FRONT_STYLE = {"fine-tuned": {"ls": "--", "color": "0.2"}, "not fine-tuned": {"ls": ":", "color": "0.55"}}


def _cost_panel(
    ax: plt.Axes, points: pd.DataFrame, column: str, scale: float, colors: dict[str, str]
) -> None:
    """Accuracy against one cost column: a marker per model and kind of accuracy (hollow = the pruned network
    not fine-tuned, beside its fine-tuned dot at the same cost), each kind's front stepped."""
    q1, q3 = column.replace("_ms", "_q1_ms"), column.replace("_ms", "_q3_ms")
    spread = column.endswith("_ms") and q1 in points and q3 in points  # latency only: MACs have no spread
    # Models at one cost (equal widths) are drawn side by side, in a fixed order.
    slot = points.groupby(points[column].round(9), sort=False).cumcount()
    count = points.groupby(points[column].round(9), sort=False)[column].transform("size")
    for (_, p), i, k in zip(points.iterrows(), slot, count, strict=True):
        base, color = p["criterion"] == "none" or bool(p["baseline"]), colors[p["criterion"]]
        half = p["acc_high"] - p["accuracy"] if p["n"] >= 2 and np.isfinite(p["acc_high"]) else np.nan
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
    for kind, mask in pareto_fronts(points, column).items():  # one front per kind of accuracy
        front, style = points[mask].sort_values(column), FRONT_STYLE[kind]
        ax.step(front[column] / scale, front["accuracy"], where="post", lw=0.8, zorder=0, **style)
        ax.plot(front[column] / scale, front["accuracy"], "o", ms=9, mfc="none", mec=style["color"], mew=0.7)
        for i, (_, p) in enumerate(
            front.iterrows()
        ):  # alternate below/above: neighbours on a front are close
            ax.annotate(
                p["layers"] or "unpruned",
                (p[column] / scale, p["accuracy"]),
                xytext=(4, -8 if i % 2 else 5),
                textcoords="offset points",
                fontsize=5.5,
                color=style["color"],
            )
    ax.grid(alpha=0.3, lw=0.5)


def _deployed_column(points: pd.DataFrame) -> str | None:
    """The dataset's rule's deployed-accuracy column (2022-2025 when its columns are there), or None."""
    present = [
        c for c in DEPLOYED if c.startswith("accuracy_deployed") and c in points and points[c].notna().any()
    ]
    return present[-1] if present else None


def _deployed_markers(ax: plt.Axes, points: pd.DataFrame, column: str, scale: float, colors, deployed: str):
    """A cross per model at its accuracy at the rule's precision (fp32, fp16 or int8), joined to its dot."""
    for _, p in points[points[deployed].notna()].iterrows():
        x = p[column] / scale
        ax.plot([x, x], [p["accuracy"], p[deployed]], color=colors[p["criterion"]], lw=0.5, alpha=0.6)
        ax.plot(x, p[deployed], "x", ms=4, mew=0.9, color=colors[p["criterion"]])


def cost_pareto(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Accuracy against MACs and against measured latency for every model, the Pareto front marked. Rows of
    several networks (asc/report/networks.py): one series per network and criterion, its legend naming the
    network, and one front per kind of accuracy across the networks."""
    df = for_dataset(df, dataset)
    points = _figure_points(df)
    several = (
        NETWORK in points
    )  # several networks (asc/report/networks.py): one series per network and criterion
    panels = _panels(points)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(panels), figsize=(3.5 * len(panels), 3.0), sharey=True, squeeze=False, layout="constrained"
        )
        colors = criterion_colors(points["criterion"])
        deployed = _deployed_column(points)
        for ax, (column, scale, label) in zip(axes[0], panels, strict=True):
            _cost_panel(ax, points[points[column].notna()], column, scale, colors)
            if deployed:
                _deployed_markers(ax, points[points[column].notna()], column, scale, colors, deployed)
            ax.set_xlabel(label)
            if column != "macs" and spread_notes(points, [column]):
                note = "IQRs of neighbouring models overlap: this latency order is within the noise"
                ax.set_title(note, fontsize=5.5, color="firebrick", loc="right")
        stats = [
            MeanCI(p["accuracy"], 0.0, int(p["n"]), p["acc_low"], p["acc_high"]) for _, p in points.iterrows()
        ]
        axes[0][0].set_ylabel(f"{task_of_rows(df).metric_label}\n{ci_note(stats)}")
        handles = _legend_handles(points, colors, several=several, deployed=deployed)
        fig.legend(handles=handles, frameon=False, ncol=min(len(handles), 4), loc="outside upper center")
        return save_figure(fig, stem)


def _figure_points(df: pd.DataFrame) -> pd.DataFrame:
    """The cost points with MACs, each pruned network before fine-tuning too (hollow markers); several networks
    name each series "<network>: <criterion>". MissingResultsError when there are none."""
    points = cost_points(df, pruned_too=True)
    points = points[points["macs"].notna()] if not points.empty else points
    if points.empty:
        raise MissingResultsError(
            "the cost figure needs model rows with accuracy and MACs; run `asc` (the demo) or "
            "`asc experiment=paper_fig3`"
        )
    if NETWORK in points:
        points = points.assign(
            criterion=[
                f"{n}: {'unpruned' if b else LABELS.get(c, c)}"
                for n, c, b in zip(points[NETWORK], points["criterion"], points["baseline"], strict=True)
            ]
        )
    return points


def _panels(points: pd.DataFrame) -> list[tuple[str, float, str]]:
    """(cost column, scale, axis label) per panel: MACs, and the first measured latency where there is one."""
    latencies = latency_columns_in(points)
    panels = [("macs", 1e6, "MACs per clip (M)")]
    if latencies:
        backend, batch = latencies[0].split("_")[1:3]
        name = {"cpu": "PyTorch CPU", "ort": "onnxruntime CPU", "cuda": "PyTorch CUDA"}.get(backend, backend)
        panels.append(
            (latencies[0], 1.0, f"Latency (ms; median, IQR over rounds), {name}, batch {batch[1:]}")
        )
    return panels


def _unpruned_label(points: pd.DataFrame) -> str:
    """The baseline's legend entry with its accuracy and spread."""
    base = points[points["baseline"]]
    unpruned = "Unpruned"
    if len(base):
        b = base.iloc[0]
        spread = f" ± {b['accuracy_std']:.1f}%, n = {b['n']}; bar: 95% CI" if b["n"] > 1 else "%, n = 1"
        unpruned += f" ({b['accuracy']:.1f}{spread})"
    return unpruned


def _legend_handles(
    points: pd.DataFrame, colors: dict[str, str], *, several: bool, deployed: str | None
) -> list[plt.Line2D]:
    """One entry per series (the baseline a star), the hollow not-fine-tuned marker, each kind's front and,
    where drawn, the deployed-precision cross."""
    unpruned = _unpruned_label(points)
    bases = set(points.loc[points["baseline"], "criterion"]) if several else {"none"}
    handles = [
        plt.Line2D(
            [],
            [],
            ls="",
            marker="*" if c in bases else "o",
            ms=6 if c in bases else 4,
            color=colors[c],
            label=c if several else unpruned if c == "none" else LABELS.get(c, c),
        )
        for c in dict.fromkeys(points["criterion"])
    ]
    handles.append(
        plt.Line2D([], [], ls="", marker="o", ms=4, mfc="white", color="0.3", label="Not fine-tuned")
    )
    handles += [
        plt.Line2D([], [], marker="o", ms=7, mfc="none", lw=0.8, label=f"Pareto front, {kind}", **style)
        for kind, style in FRONT_STYLE.items()
        if kind in pareto_fronts(points, "macs")
    ]
    if deployed:
        handles.append(
            plt.Line2D([], [], ls="", marker="x", ms=4, color="0.3", label="At DCASE storage precision")
        )
    return handles
