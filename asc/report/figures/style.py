"""The figures' shared look: legend labels, colours, markers and rc style, writing a figure (PNG + PDF unless
``runtime.figures`` says otherwise), and the drawing rules every figure follows: error bars are 95 % t intervals of the mean, the unpruned baseline is a
line with its interval as a band, and series that coincide are drawn side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import transforms

from asc.core.atomic import atomic_path
from asc.report import figure_output
from asc.report.compare import MeanCI, mean_ci

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


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` (300 dpi) and ``stem.pdf``, or the formats and resolution ``runtime.figures`` sets
    (:mod:`asc.report.figure_output`), each through a temporary file (a full disk never leaves a truncated
    figure), close the figure and return the paths in the order of the formats."""
    stem = Path(stem)
    output = figure_output.current()
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in output.formats]
    try:
        for path in paths:
            with atomic_path(path) as tmp:
                fig.savefig(
                    tmp, dpi=output.dpi if path.suffix == ".png" else "figure", format=path.suffix[1:]
                )
    finally:
        plt.close(fig)
    return paths


def criterion_colors(criteria) -> dict[str, str]:
    """The paper figures' colours for cosine/l1/random, distinct tab10 colours for every other criterion."""
    taken = set(COLORS.values())
    spare = iter(c for c in map(matplotlib.colors.to_hex, plt.get_cmap("tab10").colors) if c not in taken)
    colors = {"none": "black"}
    for crit in criteria:
        colors.setdefault(crit, COLORS.get(crit) or next(spare, "0.5"))
    return colors


MARKERS = {"cosine": "o", "l1": "s", "random": "^"}  # distinct shapes: a series hidden by another still shows
CI_LABEL = "bars: 95% t CI of the mean"


def ci_err(stats: Sequence[MeanCI]) -> np.ndarray:
    """Error-bar half-widths of 95 % t intervals (:func:`asc.report.compare.mean_ci`); NaN (no bar drawn) where there is
    none: n < 2 has no interval, and a zero-length bar would promise one."""
    return np.array([s.high - s.mean if s.n >= 2 and np.isfinite(s.high) else np.nan for s in stats])


def n_text(counts: Sequence[int]) -> str:
    """``"n = 3"``, or ``"n = 1–3"`` when the points rest on different numbers of runs."""
    counts = [int(c) for c in counts if c > 0]
    if not counts:
        return "n = 0"
    low, high = min(counts), max(counts)
    return f"n = {low}" if low == high else f"n = {low}–{high}"


def ci_note(stats: Sequence[MeanCI]) -> str:
    """What a series' error bars are, with its n: ``"n = 3; bars: 95% t CI of the mean"``, ``"n = 1: no
    interval"``, or ``"n = 1–3; bars: 95% t CI of the mean where n ≥ 2"``."""
    counts = [s.n for s in stats if s.n > 0]
    if not counts or max(counts) < 2:
        return f"{n_text(counts)}: no interval"
    return f"{n_text(counts)}; {CI_LABEL}" + (" where n ≥ 2" if min(counts) < 2 else "")


def dodged(ax: plt.Axes, i: int, k: int, step_pt: float = 3.5) -> transforms.Transform:
    """Data transform of the ``i``-th of ``k`` series shifted sideways by ``step_pt`` points per series, centred:
    series that coincide (criteria that keep equal widths train in the same time) stay visible side by side."""
    return transforms.offset_copy(ax.transData, fig=ax.figure, x=(i - (k - 1) / 2) * step_pt, units="points")


def errorbar_dodged(ax: plt.Axes, i: int, k: int, x, y, *, yerr=None, xerr=None, **style):
    """``ax.errorbar`` drawn through :func:`dodged`; the axes still scale to the data and bars (matplotlib does
    not autoscale to artists with a transform other than ``transData``)."""
    ax.errorbar(x, y, yerr=yerr, xerr=xerr, transform=dodged(ax, i, k), **style)
    x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))

    def low_high(err) -> np.ndarray:  # (2, n): below and above, as matplotlib reads yerr/xerr
        err = np.zeros(len(x)) if err is None else np.nan_to_num(np.asarray(err, dtype=float))
        return np.broadcast_to(err if err.ndim == 2 else np.atleast_1d(err), (2, len(x)))

    dx, dy = low_high(xerr), low_high(yerr)
    corners = np.concatenate(
        [np.column_stack([x - dx[0], y - dy[0]]), np.column_stack([x + dx[1], y + dy[1]])]
    )
    ax.update_datalim(corners[np.isfinite(corners).all(axis=1)])
    ax.autoscale_view()


def coinciding(series: Mapping[str, Mapping[float, float]], tol: float) -> list[list[str]]:
    """Groups of series whose values agree within ``tol`` at every x they share (at least one): the ones a
    figure must say it drew side by side."""
    names = list(series)
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            other = series[group[0]]
            shared = set(series[name]) & set(other)
            if shared and all(abs(series[name][x] - other[x]) <= tol for x in shared):
                group.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]


def draw_reference(ax: plt.Axes, values) -> None:
    """The unpruned baseline as a distribution: its mean accuracy (``values`` are fractions, drawn in %) as a
    dashed line, its 95 % t interval over the baseline seeds as a band, mean ± std and n in the legend."""
    ref = mean_ci(values, scale=100.0)
    if ref.n == 0:
        return
    if ref.n == 1:
        label = f"Unpruned ({ref.mean:.1f}%, n = 1)"
    else:
        label = f"Unpruned ({ref.mean:.1f} ± {ref.std:.1f}%, n = {ref.n}; band: 95% CI)"
    ax.axhline(ref.mean, color="0.3", ls="--", lw=0.9, label=label, zorder=1)
    if np.isfinite(ref.low) and ref.high > ref.low:
        ax.axhspan(ref.low, ref.high, color="0.3", alpha=0.12, lw=0, zorder=0)
    top = ref.high if np.isfinite(ref.high) else ref.mean
    lo, hi = ax.get_ylim()  # axhline does not autoscale: keep the line and band off the top edge
    if top > hi - 0.05 * (hi - lo):
        ax.set_ylim(lo, top + 0.08 * (hi - lo))
