"""How one cell of a report table reads: accuracies as mean ± std (or a reference distribution with its 95 %
interval), a paired difference ± its interval's half-width, a p value, the first stored value of a column and where
a row's kept epoch was chosen. Pure functions of values or rows; the tables of :mod:`asc.report.tables`,
:mod:`asc.report.tables_comparison`, :mod:`asc.report.tables_devices` and :mod:`asc.report.tables_sensitivity`
build their cells from them. A :class:`Line` keeps, beside each mean ± std cell it puts, the numbers behind it
(:func:`numbers`), which :func:`with_numbers` appends to the table for the CSV alone
(:data:`asc.report.table_writers.CSV_ONLY`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from asc.report import compare
from asc.report.queries import mean_std
from asc.report.table_writers import CSV_ONLY

__all__ = [
    "BEST",
    "SIG",
    "Line",
    "first_value",
    "fmt_acc",
    "fmt_diff",
    "fmt_mean_std",
    "fmt_p",
    "fmt_reference",
    "lines_table",
    "machine_name",
    "numbers",
    "selected_on",
    "with_numbers",
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


def machine_name(column: str) -> str:
    """A formatted column's name in the CSV's numeric columns: lower case, " (%)" dropped, % as pct, ′ as
    _prime, other runs of signs as "_": 'Acc. FT 25% (%)' -> 'acc_ft_25pct', 'd′' -> 'd_prime', 'Time (s)' ->
    'time_s'."""
    text = column.removesuffix(" (%)").replace("%", "pct").replace("′", "_prime")
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def numbers(column: str, m: compare.MeanCI, interval: bool = False) -> dict:
    """The numbers behind a mean ± std cell of ``column`` (for the CSV alone), unrounded, in the cell's units:
    ``<name>_mean``, ``<name>_std`` (ddof = 1; blank for one value, whose cell has no ± part), ``<name>_n``
    (the values the cell summarises: repeats, or folds) and with ``interval`` (a reference cell,
    :func:`fmt_reference`) ``<name>_ci_low`` / ``<name>_ci_high`` (its 95 % t interval; blank below n = 2);
    <name> is :func:`machine_name`. No values: all blank."""
    name = machine_name(column)
    out = {
        f"{name}_mean": m.mean,
        f"{name}_std": m.std if m.n > 1 else np.nan,
        f"{name}_n": m.n if m.n else pd.NA,
    }
    if interval:
        out |= {f"{name}_ci_low": m.low, f"{name}_ci_high": m.high}
    return out


class Line(dict):
    """One line of a table, its cells by column; :meth:`stats` puts a mean ± std cell and keeps the numbers
    behind it in ``.numbers`` (:func:`numbers`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.numbers: dict = {}

    def stats(self, column: str, values, fmt=fmt_mean_std, **kwargs) -> None:
        """``self[column] = fmt(values, **kwargs)`` (:func:`fmt_mean_std`, :func:`fmt_acc` or
        :func:`fmt_reference`, whose cell gives the interval), and its numbers: the values × its ``scale``
        (100, percent, unless ``kwargs`` says otherwise)."""
        self[column] = fmt(values, **kwargs)
        m = compare.mean_ci(values, scale=kwargs.get("scale", 100.0))
        self.numbers |= numbers(column, m, interval=fmt is fmt_reference)


def with_numbers(table: pd.DataFrame, lines: list[dict]) -> pd.DataFrame:
    """``table`` (one row per entry of ``lines``, in order: :class:`Line` ``.numbers`` or :func:`numbers`'
    dicts) with their numbers appended as columns that :data:`CSV_ONLY` names (the CSV alone holds them);
    counts as integers. ValueError when a name is a column already."""
    extra = pd.DataFrame.from_records(lines, index=table.index) if lines else pd.DataFrame(index=table.index)
    clash = sorted(set(extra.columns) & set(table.columns))
    if clash:
        raise ValueError(
            f"numeric columns {clash} are columns of the table already; rename the formatted ones"
        )
    for column in extra.columns[extra.columns.str.endswith("_n")]:
        extra[column] = extra[column].astype("Int64")
    out = pd.concat([table, extra], axis=1)
    out.attrs = {**table.attrs, CSV_ONLY: [*table.attrs.get(CSV_ONLY, []), *extra.columns]}
    return out


def lines_table(lines: list[Line]) -> pd.DataFrame:
    """The table of ``lines`` (:class:`Line`), one row each in order, with the numbers behind their cells appended
    for the CSV alone (:func:`with_numbers`)."""
    return with_numbers(pd.DataFrame.from_records(lines), [line.numbers for line in lines])
