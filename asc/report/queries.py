"""Queries over the results table shared by the report's tables and figures (both are views of the one table of
:mod:`asc.report.results`): which rows match, the data subset each row was trained on, layer sets in the paper's
order, mean ± std and the per-fold means a cell summarises, one dataset's rows and the ratio labels of a criterion
run at several ratios. Pure functions of a DataFrame; none reads or writes a file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


class MissingResultsError(ValueError):
    """The results table lacks the rows a table or figure needs; the message names the experiment to run."""


def is_missing(value: Any) -> bool:
    """Whether a cell holds no value: None, or a scalar NaN / NA."""
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def with_ratio_labels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``criterion`` naming its ratio (``centrality 25%``) wherever one dataset holds a criterion
    at several ratios (experiment=centrality_panns: 25/50/75 % removed), so that every table, comparison and
    figure, which group by criterion, tells them apart; other rows unchanged. Within each network where the rows
    carry a ``network`` column (asc.report.networks.with_network_labels, applied first)."""
    from asc.report.rows import ratio_of

    if "ratio" not in df or df.empty:
        return df
    ratios = df["ratio"].map(ratio_of)
    by = [
        df["dataset"],
        *([df["network"]] if "network" in df else []),
        df["criterion"],
    ]  # asc/report/networks.py
    distinct = ratios.where(ratios.ne("")).groupby(by).transform("nunique")
    several = distinct.gt(1) & ratios.ne("")
    out = df.copy()
    out.loc[several, "criterion"] = [
        f"{c} {100 * float(r):g}%" for c, r in zip(df.loc[several, "criterion"], ratios[several], strict=True)
    ]
    return out


def layer_key(layers: str) -> tuple[int, tuple[int, ...], str]:
    """Sort key for layer sets: fewer layers first, then by layer number (C1, C2, C3, C1+C2, ..., C1+C2+C3)."""
    parts = [p for p in str(layers).split("+") if p]
    numbers = tuple(int(re.sub(r"\D", "", p) or 0) for p in parts)
    return (len(parts), numbers, str(layers))


def sort_layer_sets(layer_sets: Iterable[str]) -> list[str]:
    return sorted(set(layer_sets), key=layer_key)


def select(
    df: pd.DataFrame,
    *,
    stage: str | None = None,
    criterion: str | Iterable[str] | None = None,
    layers: str | None = None,
    finetuned: bool | None = None,
    fraction: float | None = None,
    subset: str | None = None,
) -> pd.DataFrame:
    """Rows matching every given condition; ``fraction`` is compared with a tolerance (CSV float round trip),
    ``subset`` with :func:`subset_label` (tells a fraction from an official split of the same share)."""
    mask = pd.Series(True, index=df.index)
    if stage is not None:
        mask &= df["stage"] == stage
    if criterion is not None:
        mask &= df["criterion"].isin([criterion] if isinstance(criterion, str) else list(criterion))
    if layers is not None:
        mask &= df["layers"] == layers
    if finetuned is not None:
        mask &= df["finetuned"].astype(bool) == finetuned
    if fraction is not None:
        mask &= np.isclose(df["fraction"].astype(float), fraction, atol=1e-6)
    if subset is not None:
        mask &= subsets(df) == subset
    return df[mask]


def hard_labels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the plain recipe, trained on the hard labels alone: knowledge-distillation rows (a
    ``teacher``, subset ``<share> KD <teacher>``) and quantisation-aware ones (``qat``, subset ``<share> QAT``:
    int8 scores) are another training and never pooled with them (asc.report.rows.pooling_key); a table without those
    columns is all plain."""
    from asc.report.rows import qat_of, teacher_of

    if "teacher" in df:
        df = df[df["teacher"].map(teacher_of) == ""]
    return df[df["qat"].map(qat_of) == ""] if "qat" in df else df


def subset_label(fraction: Any, split: Any) -> str:
    """The data subset a row was trained (fine-tuned) on, as the tables name it: the official split's name
    (``split25``), else our stratified fraction (``25%``), else "" (none: not fine-tuned). Two subsets of one share
    (``fraction`` 0.25 and ``split25``) differ here, so no grouping by it pools them as repeats."""
    if not is_missing(split) and str(split):
        return str(split)
    return "" if is_missing(fraction) else f"{float(fraction) * 100:g}%"


def subsets(df: pd.DataFrame) -> pd.Series:
    """:func:`subset_label` of every row of a results table (index kept), with `` KD <teacher>`` for a distilling
    fine-tuning (asc.report.rows.teacher_of), `` QAT`` for a quantisation-aware one (asc.report.rows.qat_of) and the pruning
    schedule of iterative pruning (asc/prune/schedule.py: ``step 2/3`` on a step's own row, `` 3 steps`` after a
    fine-tuning share): the tables that group by subset (criteria, comparisons, summary) keep KD, QAT and k-step
    rows apart from the others, as the pooling key does."""
    from asc.report.rows import qat_of, schedule_label, teacher_of

    empty = pd.Series("", index=df.index)
    split = df["split"] if "split" in df else empty
    teacher = df["teacher"].map(teacher_of) if "teacher" in df else empty
    steps, at = (df[c] if c in df else empty for c in ("prune_steps", "prune_step"))
    labels = [subset_label(f, s) for f, s in zip(df["fraction"], split, strict=True)]
    labels = [f"{label} KD {t}" if t and label else label for label, t in zip(labels, teacher, strict=True)]
    if "qat" in df:
        labels = [
            f"{label} QAT" if qat_of(q) and label else label
            for label, q in zip(labels, df["qat"], strict=True)
        ]
    places = [schedule_label(s, k) for s, k in zip(at, steps, strict=True)]
    out = [
        label if not place else f"{label} {place.split('/')[1]} steps" if label else f"step {place}"
        for label, place in zip(labels, places, strict=True)
    ]
    return pd.Series(out, index=df.index, dtype=object)


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; 0 for a single value) and count of the finite values."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)


def has_folds(df: pd.DataFrame) -> bool:
    """Whether rows carry a test fold (``fold``: a cross-validation's rows, asc/pipeline/cross_validation.py)."""
    return "fold" in df and pd.to_numeric(df["fold"], errors="coerce").notna().any()


def fold_means(rows: pd.DataFrame, column: str) -> pd.Series:
    """The values a table cell summarises: ``rows[column]``, or where the rows carry folds the mean of each fold's
    rows (its seeds or repeats), one value per fold, so that the cell is the mean ± std over folds."""
    if not has_folds(rows):
        return rows[column]
    folds = pd.to_numeric(rows["fold"], errors="coerce")
    return pd.to_numeric(rows[column], errors="coerce").groupby(folds).mean()


def for_dataset(df: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The rows of one dataset; ``None`` is allowed only when the table holds a single dataset."""
    if dataset is not None:
        return df[df["dataset"] == dataset]
    names = sorted(set(df["dataset"]))
    if len(names) > 1:
        raise ValueError(f"results hold several datasets {names}; pass dataset=<one of them>")
    return df
