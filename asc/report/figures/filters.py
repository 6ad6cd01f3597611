"""Figures of the filters themselves: Fig. 2 (cosine distance to the closest filter), Fig. 4 (l1-norms)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from asc.report.figures.style import COLORS, STYLE, save_figure
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, for_dataset, select, sort_layer_sets


def _json_field(row: pd.Series, column: str) -> dict:
    try:
        return json.loads(row[column])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"run {row['run_id']!r}: column {column!r} is not valid JSON: {row[column]!r}"
        ) from err


def fig2_closest_distance(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Histogram of the cosine distance between each filter and its closest filter, one panel per layer."""
    df = one_network(for_dataset(df, dataset), "the filter figures")
    rows = select(df, stage="prune", criterion="cosine")
    rows = rows[~rows["closest_distance"].isin(["", "{}"])]  # {}: dependency-graph pruning computes none
    if rows.empty:
        raise MissingResultsError(
            "Fig. 2 needs a cosine prune row with `closest_distance` data; run `asc experiment=paper_fig3`"
        )
    # Prefer the row that pruned the most layers (it carries every layer), then a deterministic tie-break.
    rows = rows.assign(_n=rows["layers"].str.count(r"\+")).sort_values(
        ["_n", "seed", "run_id"], ascending=[False, True, True]
    )
    per_layer: dict[str, list[float]] = {}
    for _, row in rows.iterrows():
        for layer, values in _json_field(row, "closest_distance").items():
            per_layer.setdefault(layer, values)
    layers = sort_layer_sets(per_layer)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(layers), figsize=(2.3 * len(layers), 2.2), sharex=True, squeeze=False, layout="constrained"
        )
        top = max(max(v) for v in per_layer.values())
        bins = np.linspace(0.0, max(top, 1e-6) * 1.05, 13)  # shared bins so the layers' spreads compare
        for ax, layer in zip(axes[0], layers, strict=True):
            values = np.asarray(per_layer[layer], dtype=float)
            mu, sd = float(values.mean()), float(values.std())  # population std describes this set of filters
            counts, _, _ = ax.hist(
                values,
                bins=bins,
                color=COLORS["cosine"],
                edgecolor="white",
                lw=0.5,
                label=f"$\\mu$ = {mu:.3f}\n$\\sigma$ = {sd:.3f}",
            )
            ax.set_ylim(0, counts.max() * 1.4)  # headroom so the mu/sigma legend never covers a bar
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_title(f"{layer} ({len(values)} filters)", fontsize=8)
            ax.set_xlabel("Cosine distance to closest filter")
            ax.legend(handlelength=0, handletextpad=0, loc="upper right", frameon=False)
        axes[0][0].set_ylabel("Number of filters")
        return save_figure(fig, stem)


def fig4_l1_norms(
    df: pd.DataFrame, stem: Path, *, dataset: str | None = None, layer: str = "C2"
) -> list[Path]:
    """l1-norm of each filter of ``layer`` with the filters kept by the cosine method highlighted."""
    df = one_network(for_dataset(df, dataset), "the filter figures")
    rows = select(df, stage="prune", criterion="cosine")
    rows = rows[rows["layers"].map(lambda s: layer in s.split("+")).astype(bool)]
    rows = rows[~rows["l1_norms"].isin(["", "{}"]) & ~rows["kept_indices"].isin(["", "{}"])]
    if rows.empty:
        raise MissingResultsError(
            f"Fig. 4 needs a cosine prune row that pruned {layer} with `l1_norms` and `kept_indices`; "
            "run `asc experiment=paper_fig3`"
        )
    # The single-layer row is the paper's setting; fall back to any layer set containing the layer.
    rows = rows.assign(_solo=rows["layers"] != layer).sort_values(["_solo", "seed", "run_id"])
    row = rows.iloc[0]
    norms = np.asarray(_json_field(row, "l1_norms")[layer], dtype=float)
    kept = set(_json_field(row, "kept_indices")[layer])
    n, k = len(norms), len(kept)
    # What l1-norm pruning at the cosine method's ratio would drop: the n - k lowest norms.
    l1_dropped = sorted(np.argsort(norms, kind="stable")[: n - k].tolist())
    idx = np.arange(n)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.6, 2.6), layout="constrained")
        colors = [COLORS["cosine"] if i in kept else COLORS["pruned"] for i in idx]
        ax.bar(idx, norms, 0.75, color=colors)
        ax.plot(l1_dropped, norms[l1_dropped] + 0.03 * norms.max(), "v", color=COLORS["l1"], ms=4)
        handles = [
            plt.Rectangle((0, 0), 1, 1, color=COLORS["cosine"], label=f"Kept by cosine ({k}/{n})"),
            plt.Rectangle((0, 0), 1, 1, color=COLORS["pruned"], label="Pruned by cosine"),
            plt.Line2D(
                [],
                [],
                ls="",
                marker="v",
                color=COLORS["l1"],
                ms=4,
                label=rf"Pruned by $\ell_1$-norm ({n - k} lowest)",
            ),
            plt.Line2D([], [], ls="", label=f"min/max norm ratio = {norms.min() / norms.max():.2f}"),
        ]
        ax.legend(handles=handles, frameon=False, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.set_xticks(idx)
        ax.set_xlabel(f"Filter index ({layer})")
        ax.set_ylabel(r"$\ell_1$-norm")
        ax.set_ylim(0, norms.max() * 1.08)
        return save_figure(fig, stem)
