"""Paired comparisons of pruning criteria over repeats, and the unpruned reference as a distribution.

Runs of different criteria with the same dataset, layer set, fine-tuning subset (fraction or official split), repeat and baseline seed (and test fold, in a cross-validation)
share the data subset and the seeds, so their differences are *paired*: the difference of each pair removes
what the draw of data and seeds does to both. For every pair of criteria at one layer set and fraction (and
each criterion against the unpruned baseline it was pruned from) this module gives the mean difference over the
pairs, its 95 % Student t confidence interval and the two-sided paired t-test's p-value
(``scipy.stats.ttest_rel``), and Holm's step-down correction over all tests of a table, per metric
(``statsmodels.stats.multitest.multipletests``; Holm 1979, Scand. J. Statist. 6:65-70).

Degenerate cases are named, not tested: one pair (``n = 1``) has no interval or test; two pairs (``n = 2``, one
degree of freedom) get their interval and p but no Holm adjustment and no mark (:data:`MIN_N`); differences that
are all equal (e.g. two criteria at exactly chance level in every repeat) have zero variance, so the t statistic is
undefined and neither interval nor p-value is given.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from asc.data.tasks import SCENES, task_of_rows
from asc.report.networks import NETWORK, labelled, several_networks
from asc.report.queries import mean_std, subsets

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "METRICS",
    "UNPRUNED",
    "MeanCI",
    "baseline_of",
    "comparisons",
    "mean_ci",
    "paired_stats",
]

log = logging.getLogger(__name__)

CONFIDENCE = 0.95
ALPHA = 0.05  # a comparison is marked significant when its Holm-adjusted p-value is below this
UNPRUNED = "unpruned"  # the name of the unpruned baseline as side B of a comparison
# metric column -> (name in tables, scale: accuracy differences in percentage points). The columns compared are
# the task's (asc.data.tasks: accuracy and log loss for scenes, mAP, AUC and d' for tagging); this is the scenes' set.
METRICS = SCENES.paired
PAIR = ["fold", "repeat", "baseline_seed"]  # fold: a cross-validation's test fold (-1 for a set without)
# Fewest pairs whose test may mark a difference: with n = 2 the paired t-test has one degree of freedom, and two
# close differences give p < 0.001 from what is nearly no evidence; such a test is shown but not Holm-adjusted
# and never starred (README "Statistics": a claim needs n >= 3 repeats, the paper's 5 preferred).
MIN_N = 3
FEW_NOTE = (
    f"n < {MIN_N}: one degree of freedom, p shown but not adjusted or marked (a claim needs n >= {MIN_N})"
)
_TOL = 1e-12  # differences closer than this are equal (float noise of a CSV round trip)


@dataclass(frozen=True)
class MeanCI:
    """Mean, sample std (ddof = 1), count and 95 % Student t interval of the mean (NaN for n < 2)."""

    mean: float
    std: float
    n: int
    low: float
    high: float


def mean_ci(values, scale: float = 1.0) -> MeanCI:
    """:class:`MeanCI` of the finite ``values`` × ``scale``: ``scipy.stats.t.interval`` at :data:`CONFIDENCE`
    with the standard error ``std / sqrt(n)``; no values gives NaN and n = 0, one value std 0 and no interval."""
    mean, std, n = mean_std(np.ravel(np.asarray(values, dtype=float)) * scale)
    if n == 0:
        return MeanCI(np.nan, np.nan, 0, np.nan, np.nan)
    if n == 1:
        return MeanCI(mean, 0.0, 1, np.nan, np.nan)
    if std <= _TOL * max(1.0, abs(mean)):
        return MeanCI(mean, 0.0, n, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / np.sqrt(n))
    return MeanCI(mean, std, n, float(low), float(high))


def paired_stats(a, b) -> dict:
    """Paired comparison of equal-length samples ``a`` and ``b`` (pair i is ``a[i]``, ``b[i]``):
    ``{"n", "mean_diff", "ci_low", "ci_high", "p", "note"}`` for the differences a − b. The interval is
    ``ttest_rel(a, b).confidence_interval(0.95)`` (Student t), ``p`` its two-sided p-value; with one pair or
    all differences equal both are NaN and ``note`` says why."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    n = int(d.size)
    out = {"n": n, "mean_diff": float(d.mean()) if n else np.nan, "ci_low": np.nan, "ci_high": np.nan}
    out |= {"p": np.nan, "note": ""}
    if n == 0:
        out["note"] = "no pairs"
    elif n == 1:
        out["note"] = "n = 1: no interval or test"
    elif np.ptp(d) <= _TOL * max(1.0, float(np.abs(d).max())):
        out["note"] = "all differences equal: no variance, no t-test"
    else:
        res = stats.ttest_rel(a, b)
        ci = res.confidence_interval(CONFIDENCE)
        out |= {"ci_low": float(ci.low), "ci_high": float(ci.high), "p": float(res.pvalue)}
    return out


def _pair_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The pruned rows with a ``baseline_seed`` for pairing: the column when the rows carry it, else the seed
    of the first baseline row (a table without that column pruned from one baseline)."""
    base = df[df["stage"] == "baseline"]
    first = float(base["seed"].iloc[0]) if len(base) and pd.notna(base["seed"].iloc[0]) else -1.0
    out = df[df["stage"] != "baseline"].copy()
    given = out["baseline_seed"] if "baseline_seed" in out else pd.Series(np.nan, index=out.index)
    out["baseline_seed"] = pd.to_numeric(given, errors="coerce").fillna(first)
    out["repeat"] = pd.to_numeric(out["repeat"], errors="coerce").fillna(0)
    out["fold"] = _folds(out)
    return out


def _folds(df: pd.DataFrame) -> pd.Series:
    """The rows' test folds (a cross-validation's, asc/pipeline/cross_validation.py); -1 where a row has none."""
    given = df["fold"] if "fold" in df else pd.Series(np.nan, index=df.index)
    return pd.to_numeric(given, errors="coerce").fillna(-1.0)


def _base_keys(rows: pd.DataFrame, base: pd.DataFrame) -> list:
    """The :func:`baseline_of` index entries of ``rows``: their baseline seed, or (fold, seed) with folds."""
    if base.index.nlevels == 2:
        return list(zip(rows["fold"], rows["baseline_seed"], strict=True))
    return list(rows["baseline_seed"])


def metrics_of(df: pd.DataFrame) -> dict[str, tuple[str, float]]:
    """The metric columns compared for a table's rows: its task's (:func:`asc.data.tasks.task_of_rows`)."""
    return dict(task_of_rows(df).paired)


def baseline_of(df: pd.DataFrame) -> pd.DataFrame:
    """Per baseline seed, the unpruned baseline's metrics (index: seed; with folds (fold, seed): a fold's baseline
    is its own; columns: :func:`metrics_of`), the mean where one seed has several rows. Without a ``baseline_seed`` column the pruned rows are compared with the
    first baseline row, so a table with several baselines but no such column pairs all with that one."""
    metrics = list(metrics_of(df))
    base = df[df["stage"] == "baseline"]
    if base.empty:
        return pd.DataFrame(columns=metrics)
    seeds = pd.to_numeric(base["seed"], errors="coerce").fillna(-1.0)
    folds = _folds(base)
    by = ["fold", "seed"] if folds.ne(-1.0).any() else ["seed"]
    return base.assign(seed=seeds, fold=folds).groupby(by)[metrics].mean()


def _unique(rows: pd.DataFrame, group: str) -> pd.DataFrame:
    """The rows of ``group`` with one row per (criterion, pair); a criterion with two rows for one pair (two
    configs of one criterion under one name) cannot be paired and is left out with a warning."""
    dup = rows.duplicated(["criterion", *PAIR], keep=False)
    for crit in sorted(set(rows.loc[dup, "criterion"])):
        log.warning(
            "comparison %s: %s has several rows per repeat and baseline seed; not compared", group, crit
        )
    return rows[~rows["criterion"].isin(set(rows.loc[dup, "criterion"]))]


def _holm(p: pd.Series) -> pd.Series:
    """Holm-adjusted p-values of the finite ones (NaN stays NaN: no test was made)."""
    out = pd.Series(np.nan, index=p.index)
    finite = p.notna()
    if finite.any():
        out[finite] = multipletests(p[finite].to_numpy(), alpha=ALPHA, method="holm")[1]
    return out


def comparisons(df: pd.DataFrame) -> pd.DataFrame:
    """Every paired comparison of one dataset's results table, long form: one row per (layers, finetuned,
    fraction, a, b, metric) with ``n`` pairs, ``mean_diff`` (a − b; accuracy or mAP in points),
    ``ci_low``/``ci_high``, ``p`` (paired t), ``p_holm`` (Holm over the table's tests of that metric) and
    ``note``. Side ``b`` is another criterion (a < b by name) or :data:`UNPRUNED`; pairs need both metrics.
    Groups without a pair give no row; an empty frame when nothing pairs. The metrics are the task's
    (:func:`metrics_of`): accuracy and log loss, or mAP, AUC and d′. Rows of several networks are paired within
    each network only, a ``network`` column first."""
    df = labelled(df)
    if several_networks(
        df
    ):  # pairs only within a network (asc/report/networks.py), Holm over each one's tests
        return _per_network(df)
    metrics = metrics_of(df)  # the table's metrics, the module constant METRICS's role for this task
    pruned = _pair_frame(df)
    base = baseline_of(df)
    records = []
    pruned["subset"] = subsets(pruned)  # a fraction and an official split of one share are two groups
    for (layers, finetuned, subset), rows in pruned.groupby(["layers", "finetuned", "subset"], dropna=False):
        where = {"layers": layers, "finetuned": bool(finetuned), "fraction": rows["fraction"].iloc[0]}
        group = f"{layers} {'FT ' + subset if finetuned else ('no FT ' + subset).strip()}"  # no FT step 2/3
        rows = _unique(rows[rows[list(metrics)].notna().all(axis=1)], group)
        records += [where | {"subset": subset} | r for r in _group_comparisons(rows, base, metrics)]
    out = pd.DataFrame.from_records(
        records,
        columns=["layers", "finetuned", "fraction", "subset", "a", "b", "metric", "n", "mean_diff", "ci_low"]
        + ["ci_high", "p", "note"],
    )
    return _adjusted(out, metrics)


def _per_network(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparisons` of each network's rows on its own, a ``network`` column first."""
    parts = [comparisons(df[df[NETWORK] == n]) for n in dict.fromkeys(df[NETWORK])]
    named = [p.assign(**{NETWORK: n}) for p, n in zip(parts, dict.fromkeys(df[NETWORK]), strict=True)]
    out = pd.concat(named, ignore_index=True)
    return out[[NETWORK, *(c for c in out.columns if c != NETWORK)]]


def _group_comparisons(rows: pd.DataFrame, base: pd.DataFrame, metrics: dict) -> list[dict]:
    """The comparisons within one group (layer set, fine-tuning, subset): every two criteria and each criterion
    against the unpruned baseline, one record per side pair and metric (``a``, ``b``, ``metric`` and the
    :func:`paired_stats`); side pairs without a pair give none."""
    main = next(iter(metrics))
    wide = rows.pivot(index=PAIR, columns="criterion", values=list(metrics))
    crits = sorted(set(rows["criterion"]))
    sides = [(a, b) for a, b in itertools.combinations(crits, 2)] + [(c, UNPRUNED) for c in crits]
    records = []
    for a, b in sides:
        if b == UNPRUNED:
            mine = rows[rows["criterion"] == a]
            mine = mine[[k in base.index for k in _base_keys(mine, base)]]
            x = {m: mine[m].to_numpy() for m in metrics}
            y = {m: base.loc[_base_keys(mine, base), m].to_numpy() for m in metrics}
        else:
            both = wide.dropna(subset=[(m, c) for m in metrics for c in (a, b)])
            x = {m: both[(m, a)].to_numpy() for m in metrics}
            y = {m: both[(m, b)].to_numpy() for m in metrics}
        if not len(x[main]):
            continue
        one_base = b == UNPRUNED and len(x[main]) > 1 and len(set(_base_keys(mine, base))) == 1
        for metric, (_, scale) in metrics.items():
            res = paired_stats(x[metric] * scale, y[metric] * scale)
            if one_base and not res["note"]:
                res["note"] = "one baseline: its own spread is not in the interval"
            records.append({"a": a, "b": b, "metric": metric, **res})
    return records


def _adjusted(out: pd.DataFrame, metrics: dict) -> pd.DataFrame:
    """``out`` with the few-pairs note and ``p_holm``: Holm over each metric's tests with enough pairs."""
    few = (out["n"] < MIN_N) & out["p"].notna()  # a t-test on one degree of freedom: reported, never a claim
    out.loc[few, "note"] = [f"{n}; {FEW_NOTE}" if n else FEW_NOTE for n in out.loc[few, "note"]]
    out["p_holm"] = np.nan
    for metric in metrics:
        mask = (out["metric"] == metric) & ~few
        out.loc[mask, "p_holm"] = _holm(out.loc[mask, "p"])
    return out
