"""Cost points for the report: the measured latencies joined to the results rows, one point per model, the
Pareto fronts, and whether the latency spread is larger than the differences it ranks.

Latency is measured once per report, side by side (:mod:`asc.deploy.latency`, ``latency.csv``); :func:`join_latency`
gives each results row, through its ``model_spec``, the median and spread of its architecture as columns
``lat_<backend>_b<batch>_ms`` (median) and ``..._q1_ms``, ``..._q3_ms``, ``..._min_ms``, ``..._max_ms``. These
columns exist only in the report's memory: the results table carries no latency. The cost table built from these
points is :mod:`asc.report.cost_views`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.deploy.latency import canonical_spec
from asc.deploy.quantised import deployed_accuracy
from asc.report.compare import mean_ci
from asc.report.cost import memory_columns
from asc.report.networks import NETWORK, labelled, network_levels
from asc.report.queries import hard_labels, layer_key, subsets

log = logging.getLogger(__name__)

LATENCY = re.compile(r"^lat_([a-z]+)_b(\d+)_ms$")
SPREAD = ("q1", "q3", "min", "max")
BACKEND_ORDER = ("cpu", "ort", "cuda")
NOISE_NOTE = "Latency order within noise"  # how a note of spread_notes begins (the report logs these)


def latency_column(backend: str, batch: int, stat: str = "") -> str:
    """``lat_cpu_b1_ms`` (the median), or with ``stat`` one of :data:`SPREAD` ``lat_cpu_b1_q1_ms``."""
    return f"lat_{backend}_b{int(batch)}_{stat + '_' if stat else ''}ms"


def latency_columns_in(df: pd.DataFrame) -> list[str]:
    """The median latency columns (``lat_<backend>_b<batch>_ms``) that hold data: torch CPU first, then
    onnxruntime, CUDA; smaller batches first."""
    found = [c for c in df.columns if LATENCY.match(c) and df[c].notna().any()]

    def key(c):
        backend, batch = LATENCY.match(c).groups()
        order = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
        return (order, backend, int(batch))

    return sorted(found, key=key)


def _spec_key(text) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return canonical_spec(text)
    except (ValueError, TypeError):
        return None


def join_latency(df: pd.DataFrame, latency: pd.DataFrame | None) -> pd.DataFrame:
    """``df`` with the latency of each row's architecture (matched on the canonical ``model_spec``) as median
    and spread columns (see the module doc); ``lat_*`` columns the rows themselves carry (tables written when
    each model was timed alone, at a different moment) are dropped. Rows without a readable ``model_spec`` or
    an architecture missing from ``latency`` get NaN. ``latency_machine`` names where each was measured and
    ``architecture`` its label (the widths)."""
    out = df.drop(columns=[c for c in df.columns if c.startswith("lat_")])
    if latency is None or latency.empty or "model_spec" not in out:
        return out
    keys = out["model_spec"].map(_spec_key)
    lat = latency.assign(_k=latency["model_spec"].map(_spec_key))
    for (backend, batch), cell in lat.groupby(["backend", "batch"], sort=False):
        cell = cell.drop_duplicates("_k", keep="last").set_index("_k")
        for stat, source in [("", "median_ms")] + [(s, f"{s}_ms") for s in SPREAD]:
            out[latency_column(backend, batch, stat)] = keys.map(cell[source]).astype(float)
    last = lat.drop_duplicates("_k", keep="last").set_index("_k")
    out["latency_machine"] = keys.map(last["machine"])
    out["architecture"] = keys.map(last["architecture"])
    return out


def _first_text(values: pd.Series) -> str:
    texts = [v for v in values if isinstance(v, str) and v]
    return texts[0] if texts else ""


def _largest_subset(ft: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The fine-tuned rows on the largest subset (at one share our fraction, not pooled with the official
    split) and their ``basis`` label."""
    labels, share = subsets(ft), ft["fraction"].max()
    if pd.isna(share):
        return ft, "FT"
    at = ft[np.isclose(ft["fraction"], share)]
    ours = at["split"].astype(str) == ""
    top = subsets(at[ours] if ours.any() else at).iloc[0]
    return ft[labels == top], f"FT {top}"


def _point(
    crit: Any,
    layers: Any,
    rows: pd.DataFrame,
    rows_acc: pd.DataFrame,
    basis: str,
    timed: list[str],
    metric: str,
):
    """One point of :func:`cost_points`: the model's cost from ``rows``, its ``metric`` (accuracy, or mAP for
    tagging; the point's column is "accuracy") from ``rows_acc``."""
    acc = mean_ci(rows_acc[metric], scale=100.0)
    params = rows["params_keras"].dropna()
    rec = {
        "criterion": crit,
        "layers": layers,
        "baseline": bool((rows["stage"] == "baseline").any()),
        "params_keras": params.iloc[0] if len(params) else np.nan,
        "macs": rows["macs"].median(),
        "frontend_macs": rows["frontend_macs"].median() if "frontend_macs" in rows else np.nan,
        "accuracy": acc.mean,
        "accuracy_std": acc.std,
        "acc_low": acc.low,
        "acc_high": acc.high,
        "n": acc.n,
        "basis": basis,
        **deployed_accuracy(
            rows_acc
        ),  # at the precision each DCASE rule stores it in (asc/deploy/quantised.py)
    }
    mem = memory_columns(int(rec["params_keras"])) if len(params) else {}
    for col in ("mem_fp32_kb", "mem_fp16_kb", "mem_int8_kb", "dcase_fit_bits"):
        stored = rows[col].dropna() if col in rows else []
        rec[col] = stored.iloc[0] if len(stored) else mem.get(col, np.nan)  # old rows: derive from params
    rec.update({col: rows[col].median() for col in timed})
    if "architecture" in rows:
        rec["architecture"] = _first_text(rows["architecture"])
    return rec


def cost_points(df: pd.DataFrame, *, pruned_too: bool = False) -> pd.DataFrame:
    """One row per model (the baseline, then each criterion × layer set): counted and measured cost, and its
    accuracy (or the task's metric: mAP for tagging rows) in % — mean, std, n and the 95 % t interval (``acc_low``, ``acc_high``) over its rows — after
    fine-tuning on the largest subset when the model has fine-tuned rows (``basis`` "FT <f>%", or "FT split<f>"
    when only an official split has that share: the two are never pooled), else without
    fine-tuning ("no FT"; "trained" for the baseline). ``pruned_too``: a fine-tuned model's pruned network
    before fine-tuning is a point of its own too ("no FT"; the cost figure's not-fine-tuned front). Hard-label
    rows only (:func:`asc.report.queries.hard_labels`: a distilled model is another training). Rows of several
    networks (asc/report/networks.py) are never pooled: each network's points carry its ``network`` label."""
    df = hard_labels(labelled(df))
    latencies = latency_columns_in(df)
    spreads = [
        c.replace("_ms", f"_{s}_ms") for c in latencies for s in SPREAD if c.replace("_ms", f"_{s}_ms") in df
    ]
    metric = task_of_rows(df).metric  # accuracy, or mAP for tagging rows; the points' column is "accuracy"
    records = []
    nets = network_levels(df)  # several networks in one table: one point per network and model, never pooled
    for key, rows in df.groupby([*nets, "criterion", "layers"], sort=False, dropna=False):
        crit, layers = key[-2:]
        net = {NETWORK: key[0]} if nets else {}
        ft = rows[rows["finetuned"]]
        pruned = rows[(rows["stage"] == "prune") & ~rows["finetuned"]]
        if ft.empty:
            basis = "trained" if (rows["stage"] == "baseline").all() else "no FT"
            records.append(net | _point(crit, layers, rows, rows, basis, latencies + spreads, metric))
            continue
        rows_acc, basis = _largest_subset(ft)
        records.append(net | _point(crit, layers, rows, rows_acc, basis, latencies + spreads, metric))
        if pruned_too and not pruned.empty:
            records.append(net | _point(crit, layers, rows, pruned, "no FT", latencies + spreads, metric))
    points = pd.DataFrame.from_records(records)
    if points.empty:
        return points
    points = points[points["accuracy"].notna()]
    # Baseline first, then criterion and the paper's layer-set order (within each network, in table order).
    first = {n: i for i, n in enumerate(dict.fromkeys(points[NETWORK]))} if nets else {}
    order = points.apply(
        lambda r: (
            first.get(r.get(NETWORK), 0),
            not r["baseline"],
            r["criterion"],
            layer_key(r["layers"]),
            r["basis"] == "no FT",
        ),
        axis=1,
    )
    return points.loc[order.sort_values(kind="stable").index].reset_index(drop=True)


def pareto_mask(cost: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for the points no other point dominates (cost ≤ and accuracy ≥, one strictly); NaN is never on it."""
    c, a = np.asarray(cost, dtype=float), np.asarray(accuracy, dtype=float)
    ok = np.isfinite(c) & np.isfinite(a)
    mask = np.zeros(len(c), dtype=bool)
    for i in np.flatnonzero(ok):
        better = ok & (c <= c[i]) & (a >= a[i]) & ((c < c[i]) | (a > a[i]))
        mask[i] = not better.any()
    return mask


# The kinds of accuracy a cost point can be ("Accuracy of", cost_points' ``basis``): one Pareto front each, since
# a fine-tuned model and one that was not are different offers. The unpruned baseline ("trained") is in each.
FRONT_KINDS = {
    "fine-tuned": lambda basis: basis.startswith("FT"),
    "not fine-tuned": lambda basis: basis == "no FT",
}


def pareto_fronts(points: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    """``{kind: mask}`` for each of :data:`FRONT_KINDS` that has points other than the baseline: the points on
    that kind's front (the baseline competes in each) of ``column`` (a cost) against ``accuracy``."""
    basis = points["basis"].astype(str)
    base = (basis == "trained").to_numpy()
    fronts = {}
    for kind, member in FRONT_KINDS.items():
        mine = basis.map(member).to_numpy(dtype=bool)
        if not mine.any():
            continue
        both = mine | base
        mask = np.zeros(len(points), dtype=bool)
        mask[both] = pareto_mask(points[column].to_numpy()[both], points["accuracy"].to_numpy()[both])
        fronts[kind] = mask
    return fronts


def on_a_front(points: pd.DataFrame, column: str) -> np.ndarray:
    """True for the points on the Pareto front of their own kind (:func:`pareto_fronts`)."""
    return np.logical_or.reduce([*pareto_fronts(points, column).values(), np.zeros(len(points), dtype=bool)])


def spread_notes(points: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """One line per latency column whose ranking is within noise: distinct architectures adjacent in median
    order whose interquartile ranges over rounds overlap (the spread is larger than the difference the order
    rests on). Models of one architecture share their numbers and are not compared. Empty when all separate."""
    lines = []
    for col in columns:
        q1, q3 = col.replace("_ms", "_q1_ms"), col.replace("_ms", "_q3_ms")
        if q1 not in points or q3 not in points:
            continue
        cells = points.dropna(subset=[col, q1, q3]).drop_duplicates([col, q1, q3]).sort_values(col)
        names = list(cells["architecture"]) if "architecture" in cells else list(cells["criterion"])
        close = [
            f"{names[i]} vs {names[i + 1]} ({cells[col].iloc[i + 1] - cells[col].iloc[i]:.2f} ms apart)"
            for i in range(len(cells) - 1)
            if cells[q1].iloc[i + 1] <= cells[q3].iloc[i]
        ]
        if close:
            backend, batch = LATENCY.match(col).groups()
            lines.append(
                f"{NOISE_NOTE}, {backend} batch {batch}: for {len(close)} of {len(cells) - 1} neighbouring architectures the "
                f"interquartile ranges overlap ({'; '.join(close[:3])}{'; …' if len(close) > 3 else ''}): "
                "that order is within the noise of the rounds"
            )
    return lines
