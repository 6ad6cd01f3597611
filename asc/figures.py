"""The paper's figures (Figs. 2–6), each a pure function of the results table.

Every function takes the results DataFrame and an output path stem, writes ``stem.png`` and ``stem.pdf`` and
returns both paths. When the rows a figure needs are missing it raises :class:`MissingResultsError` naming the
experiment that produces them, so ``asc.report.write_report`` can skip it with a clear warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files only; never needs a display
# PDF font subsetting logs hundreds of INFO lines per figure through fontTools; Hydra's root logger is at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asc.cost import cost_points, latency_columns_in, pareto_mask  # noqa: E402
from asc.results import MissingResultsError, for_dataset, mean_std, select, sort_layer_sets  # noqa: E402

__all__ = [
    "MissingResultsError",
    "fig2_closest_distance",
    "fig3_layer_sets",
    "fig4_l1_norms",
    "fig5_cosine_vs_l1",
    "fig6_fractions",
    "cost_pareto",
    "FIGURES",
]

LABELS = {
    "cosine": "Cosine (proposed)",
    "chebyshev": "Chebyshev",
    "average": "Average filters",
    "l1": r"$\ell_1$-norm",
    "l2": r"$\ell_2$-norm",
    "random": "Random init.",
    "nystrom": "Nyström",
    "centrality": "Centrality",
    "fpgm": "FPGM",
}
COLORS = {"cosine": "#1f77b4", "l1": "#ff7f0e", "random": "#2ca02c", "before": "#aec7e8", "pruned": "#c7c7c7"}
STYLE = {
    "font.size": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable and passes conference checks
}
ALL_LAYERS = "C1+C2+C3"


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    fig.savefig(paths[0], dpi=300)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _json_field(row: pd.Series, column: str) -> dict:
    try:
        return json.loads(row[column])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"run {row['run_id']!r}: column {column!r} is not valid JSON: {row[column]!r}"
        ) from err


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


def fig2_closest_distance(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Histogram of the cosine distance between each filter and its closest filter, one panel per layer."""
    df = for_dataset(df, dataset)
    rows = select(df, stage="prune", criterion="cosine")
    rows = rows[rows["closest_distance"] != ""]
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
        fig, axes = plt.subplots(1, len(layers), figsize=(2.3 * len(layers), 2.2), sharex=True, squeeze=False)
        top = max(max(v) for v in per_layer.values())
        bins = np.linspace(0.0, max(top, 1e-6) * 1.05, 13)  # shared bins so the layers' spreads compare
        for ax, layer in zip(axes[0], layers, strict=True):
            values = np.asarray(per_layer[layer], dtype=float)
            mu, sd = float(values.mean()), float(values.std())  # population std describes this set of filters
            counts, _, _ = ax.hist(values, bins=bins, color=COLORS["cosine"], edgecolor="white", lw=0.5,
                                   label=f"$\\mu$ = {mu:.3f}\n$\\sigma$ = {sd:.3f}")  # fmt: skip
            ax.set_ylim(0, counts.max() * 1.4)  # headroom so the mu/sigma legend never covers a bar
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_title(f"{layer} ({len(values)} filters)", fontsize=8)
            ax.set_xlabel("Cosine distance to closest filter")
            ax.legend(handlelength=0, handletextpad=0, loc="upper right", frameon=False)
        axes[0][0].set_ylabel("Number of filters")
        fig.tight_layout()
        return _save(fig, stem)


def _bar_labels(ax: plt.Axes, bars, values: list[float], inside: bool = False) -> None:
    """Print each bar's value: above it, or just inside its top (clear of error bars and reference lines)."""
    for bar, v in zip(bars, values, strict=True):
        if np.isfinite(v):
            xy = (bar.get_x() + bar.get_width() / 2, v)
            offset, va, color = ((0, -3), "top", "white") if inside else ((0, 2), "bottom", "black")
            ax.annotate(f"{v:.1f}", xy, xytext=offset, textcoords="offset points", ha="center", va=va,
                        fontsize=5.5, color=color)  # fmt: skip


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
        return _save(fig, stem)


def fig4_l1_norms(
    df: pd.DataFrame, stem: Path, *, dataset: str | None = None, layer: str = "C2"
) -> list[Path]:
    """l1-norm of each filter of ``layer`` with the filters kept by the cosine method highlighted."""
    df = for_dataset(df, dataset)
    rows = select(df, stage="prune", criterion="cosine")
    rows = rows[rows["layers"].map(lambda s: layer in s.split("+")).astype(bool)]
    rows = rows[(rows["l1_norms"] != "") & (rows["kept_indices"] != "")]
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
        fig, ax = plt.subplots(figsize=(3.6, 2.4))
        colors = [COLORS["cosine"] if i in kept else COLORS["pruned"] for i in idx]
        ax.bar(idx, norms, 0.75, color=colors)
        ax.plot(l1_dropped, norms[l1_dropped] + 0.03 * norms.max(), "v", color=COLORS["l1"], ms=4)
        handles = [
            plt.Rectangle((0, 0), 1, 1, color=COLORS["cosine"], label=f"Kept by cosine ({k}/{n})"),
            plt.Rectangle((0, 0), 1, 1, color=COLORS["pruned"], label="Pruned by cosine"),
            plt.Line2D([], [], ls="", marker="v", color=COLORS["l1"], ms=4,
                       label=rf"Pruned by $\ell_1$-norm ({n - k} lowest)"),
            plt.Line2D([], [], ls="", label=f"min/max norm ratio = {norms.min() / norms.max():.2f}"),
        ]  # fmt: skip
        ax.legend(handles=handles, frameon=False, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.set_xticks(idx)
        ax.set_xlabel(f"Filter index ({layer})")
        ax.set_ylabel(r"$\ell_1$-norm")
        ax.set_ylim(0, norms.max() * 1.08)
        fig.tight_layout()
        return _save(fig, stem)


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
        return _save(fig, stem)


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
        return _save(fig, stem)


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
    for _, p in points.iterrows():
        base, color = p["criterion"] == "none", colors[p["criterion"]]
        ax.errorbar(p[column] / scale, p["accuracy"], yerr=p["accuracy_std"], marker="*" if base else "o",
                    ms=7 if base else 4, color=color, mfc=color if p["basis"] != "no FT" else "white",
                    capsize=1.5, lw=0.8, ls="")  # fmt: skip
    front = points[pareto_mask(points[column], points["accuracy"])].sort_values(column)
    ax.step(front[column] / scale, front["accuracy"], where="post", color="0.4", lw=0.8, ls="--", zorder=0)
    ax.plot(front[column] / scale, front["accuracy"], "o", ms=9, mfc="none", mec="0.2", mew=0.7)
    for i, (_, p) in enumerate(front.iterrows()):  # alternate below/above: neighbours on the front are close
        ax.annotate(p["layers"] or "unpruned", (p[column] / scale, p["accuracy"]), xytext=(4, -8 if i % 2 else 5),
                    textcoords="offset points", fontsize=5.5, color="0.2")  # fmt: skip
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
        panels.append((latencies[0], 1.0, f"Measured latency (ms), {name}, batch {batch[1:]}"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 2.8), sharey=True, squeeze=False)
        colors = _criterion_colors(points["criterion"])
        for ax, (column, scale, label) in zip(axes[0], panels, strict=True):
            _cost_panel(ax, points[points[column].notna()], column, scale, colors)
            ax.set_xlabel(label)
        axes[0][0].set_ylabel("Accuracy (%)")
        handles = [plt.Line2D([], [], ls="", marker="*" if c == "none" else "o", ms=6 if c == "none" else 4,
                              color=colors[c], label="Unpruned" if c == "none" else LABELS.get(c, c))
                   for c in dict.fromkeys(points["criterion"])]  # fmt: skip
        handles += [
            plt.Line2D([], [], ls="", marker="o", ms=4, mfc="white", color="0.3", label="Not fine-tuned"),
            plt.Line2D(
                [], [], ls="--", marker="o", ms=7, mfc="none", color="0.3", lw=0.8, label="Pareto front"
            ),
        ]
        fig.legend(handles=handles, frameon=False, ncol=min(len(handles), 5), loc="lower center",
                   bbox_to_anchor=(0.5, 1.0))  # fmt: skip
        fig.tight_layout()
        return _save(fig, stem)


FIGURES: dict[str, Callable[..., list[Path]]] = {
    "fig2_closest_distance": fig2_closest_distance,
    "fig3_layer_sets": fig3_layer_sets,
    "fig4_l1_norms": fig4_l1_norms,
    "fig5_cosine_vs_l1": fig5_cosine_vs_l1,
    "fig6_fractions": fig6_fractions,
    "cost_pareto": cost_pareto,
}
