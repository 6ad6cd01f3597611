"""The fine-tuning time panel of Fig. 6 (:func:`asc.report.figures.accuracy.fig6_fractions`): the time per data
fraction of each criterion, or of all of them pooled when their curves coincide, and none when the time does not
vary with the fraction."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asc.report.compare import MeanCI, mean_ci
from asc.report.figures.style import COLORS, LABELS, MARKERS, ci_err, ci_note, coinciding, errorbar_dodged

__all__ = ["time_panel", "time_series"]


def time_series(rows: pd.DataFrame, present: list[str], fractions) -> dict[str, list[MeanCI]]:
    """The fine-tuning time per fraction of each criterion in ``present``, or of all of them pooled
    (``{"all": ...}``) when their curves coincide within 1 % of the longest time (criteria that keep equal
    widths train in the same time: identical lines say nothing); empty when the time does not vary with the
    fraction either (the panel would carry no information)."""
    at = {
        c: [rows[(rows["criterion"] == c) & np.isclose(rows["fraction"], f)] for f in fractions]
        for c in present
    }
    series = {c: [mean_ci(r["train_time_s"]) for r in at[c]] for c in present}
    means = {c: {f: m.mean for f, m in zip(fractions, s, strict=True) if m.n} for c, s in series.items()}
    finite = [v for m in means.values() for v in m.values() if np.isfinite(v)]
    if not finite:
        return {}
    groups = coinciding(means, tol=0.01 * max(finite))
    if len(present) > 1 and groups and len(groups[0]) == len(present):
        series = {"all": [mean_ci(rows[np.isclose(rows["fraction"], f)]["train_time_s"]) for f in fractions]}
    pooled = [m.mean for s in series.values() for m in s if np.isfinite(m.mean)]
    return series if max(pooled) - min(pooled) > 0.01 * max(pooled) else {}


def time_panel(ax: plt.Axes, times: dict[str, list[MeanCI]], fractions) -> None:
    """Draw ``times`` (:func:`time_series`) against the fractions on ``ax``, side by side where they meet."""
    xs = np.asarray(fractions) * 100
    for i, (crit, stats) in enumerate(times.items()):
        name = "All criteria (equal widths: their times agree within 1%)" if crit == "all" else LABELS[crit]
        style = {"color": COLORS.get(crit, "0.3"), "marker": MARKERS.get(crit, "o"), "ms": 3.5, "capsize": 2}
        label = f"{name} ({ci_note(stats)})"
        errorbar_dodged(
            ax, i, len(times), xs, [m.mean for m in stats], yerr=ci_err(stats), label=label, lw=1.1, **style
        )
    ax.set_xticks(xs, [f"{t:g}" for t in xs])
    ax.set_ylabel("Fine-tuning time (s)")
    ax.set_ylim(bottom=0)
