"""How one cell of a report table reads: accuracies as mean ± std (or a reference distribution with its 95 %
interval), a paired difference ± its interval's half-width, a p value, the first stored value of a column and where
a row's kept epoch was chosen. Pure functions of values or rows; the tables of :mod:`asc.report.tables`,
:mod:`asc.report.tables_comparison`, :mod:`asc.report.tables_devices` and :mod:`asc.report.tables_sensitivity`
build their cells from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.report import compare
from asc.report.queries import mean_std

__all__ = [
    "BEST",
    "SIG",
    "first_value",
    "fmt_acc",
    "fmt_diff",
    "fmt_mean_std",
    "fmt_p",
    "fmt_reference",
    "selected_on",
]

SIG, BEST = "*", "†"  # the markers of a significant difference and of the best criterion (asc.report.tables)


def fmt_mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    """'48.6 ± 0.7' (accuracies in %); a single value has no ± part; no values gives ''."""
    mean, std, n = mean_std(np.asarray(list(values), dtype=float) * scale)
    if n == 0:
        return ""
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_acc(values, marker: str = "") -> str:
    """An accuracy cell in %: '48.6 ± 0.7' plus ``marker``; one value says so: '48.6 (n = 1)'; none gives ''."""
    m = compare.mean_ci(values, scale=100.0)
    if m.n == 0:
        return ""
    return f"{m.mean:.1f} (n = 1){marker}" if m.n == 1 else f"{m.mean:.1f} ± {m.std:.1f}{marker}"


def fmt_reference(values) -> str:
    """The unpruned reference as a distribution: '48.6 ± 0.7 (n = 10; 95 % CI 48.1–49.1)' (std over the
    baseline seeds; Student t interval of the mean); one baseline gives '48.6 (n = 1)'."""
    m = compare.mean_ci(values, scale=100.0)
    if m.n < 2:
        return fmt_acc(values)
    return f"{m.mean:.1f} ± {m.std:.1f} (n = {m.n}; 95 % CI {m.low:.1f}–{m.high:.1f})"


def first_value(rows: pd.DataFrame, column: str):
    """The first stored (not NaN, not empty) value of ``column`` in ``rows``; NaN when there is none."""
    values = rows[column].dropna()
    values = values[values != ""] if values.dtype == object else values
    return values.iloc[0] if len(values) else np.nan


def selected_on(rows: pd.DataFrame, df: pd.DataFrame) -> str:
    """Where the rows' kept epoch was chosen (their ``select_on``: val, test or last epoch; several joined by
    ", "); rows without it (pruned, not fine-tuned: the baseline's weights) take the baseline rows' of ``df``."""
    values = [v for v in dict.fromkeys(rows["select_on"].astype(str)) if v and v != "nan"]
    if not values and (rows["stage"] == "prune").all():
        values = [v for v in dict.fromkeys(df.loc[df["stage"] == "baseline", "select_on"].astype(str)) if v]
    return ", ".join(sorted(values))


def fmt_p(p: float) -> str:
    """A p value: '' for none (no test), '<0.001', else three decimals."""
    return "" if pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_diff(mean: float, low: float, high: float, digits: int) -> str:
    """A paired mean difference as ``+6.00 ± 2.91`` (signed, ± the half-width of its symmetric t interval
    [low, high]), ``+6.00`` without an interval, empty without pairs; a value that rounds to 0 shows ``+0.00``."""
    if pd.isna(mean):
        return ""
    text = f"{round(float(mean), digits) + 0.0:+.{digits}f}"
    return text if pd.isna(low) or pd.isna(high) else f"{text} ± {(high - low) / 2:.{digits}f}"
