"""The cost table: every model's parameter memory under the DCASE rules, MACs, measured latencies, accuracy
and whether it lies on a Pareto front, one line per cost point of :mod:`asc.report.cost_points` (which holds the
latency join, the points and the fronts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.data.tasks import task_of_rows
from asc.report.cells import numbers, with_numbers
from asc.report.compare import MeanCI
from asc.report.cost_points import (
    LATENCY,
    cost_points,
    latency_columns_in,
    on_a_front,
    spread_notes,
)
from asc.report.networks import NETWORK, labelled, network_levels
from asc.report.queries import MissingResultsError

__all__ = ["D22", "DEPLOYED", "PRECISION", "cost_table", "fmt_reference_stats"]


LATENCY_LABELS = {"cpu": "CPU", "ort": "ORT", "cuda": "CUDA"}
PRECISION = {32: "fp32", 16: "fp16", 8: "int8", 0: "no"}


def _latency_label(column: str) -> str:
    """lat_cpu_b1_ms -> 'CPU b1 (ms)'."""
    backend, batch = LATENCY.match(column).groups()
    return f"{LATENCY_LABELS.get(backend, backend)} b{batch} (ms)"


def _latency_cells(points: pd.DataFrame, latencies: list[str]) -> dict[str, pd.Series]:
    """{label: column} of the cost table's latencies: each median, and its interquartile range where stored."""
    cells = {}
    for c in latencies:
        cells[_latency_label(c)] = points[c].round(2)
        q1, q3 = c.replace("_ms", "_q1_ms"), c.replace("_ms", "_q3_ms")
        if q1 in points and q3 in points:
            cells[_latency_label(c).replace("(ms)", "IQR (ms)")] = (points[q3] - points[q1]).round(2)
    return cells


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every model (baseline, criterion x layer set): parameter memory, the DCASE 128 KB check, MACs (the
    network's, and the front end's per clip beside them where the rows have ``frontend_macs``), measured
    latencies (median and interquartile range over interleaved rounds, joined by the report from
    ``latency.csv``), accuracy, and whether it lies on the accuracy-vs-MACs / accuracy-vs-latency Pareto front.
    A note names the latency orders that lie within the rounds' spread. Rows of several networks: a
    ``Network`` column first, one line per network and model, one Pareto front across the networks."""
    df = labelled(df)
    points = cost_points(df)
    if points.empty or points["macs"].isna().all():
        raise MissingResultsError(
            "the cost table needs model rows with accuracy and MACs; run `asc experiment=demo` or `asc`"
        )
    latencies = latency_columns_in(points)
    fits = points["dcase_fit_bits"]
    lat_cols = _latency_cells(points, latencies)
    accuracy = [fmt_reference_stats(p) if p["baseline"] else _fmt_point(p) for _, p in points.iterrows()]
    table = pd.DataFrame(
        {
            "Criterion": points["criterion"],
            "Layers": points["layers"],
            "Params (Keras)": points["params_keras"],
            "fp32 (KB)": points["mem_fp32_kb"].round(1),
            "fp16 (KB)": points["mem_fp16_kb"].round(1),
            "int8 (KB)": points["mem_int8_kb"].round(1),
            "DCASE 128 KB": [PRECISION.get(int(b), "") if pd.notna(b) else "" for b in fits],
            "MACs (M)": (points["macs"] / 1e6).round(2),
            **lat_cols,
            task_of_rows(df).metric_label: accuracy,
            "Accuracy of": points["basis"],
            "Front (MACs)": np.where(on_a_front(points, "macs"), "yes", ""),
        }
    )
    if NETWORK in points:  # several networks (asc/report/networks.py): which one each line is
        table.insert(0, "Network", points[NETWORK].to_numpy())
    if points["frontend_macs"].notna().any():  # the mel front end's cost per clip, beside the network's
        table.insert(
            table.columns.get_loc("MACs (M)") + 1,
            "Front-end MACs (M)",
            (points["frontend_macs"] / 1e6).round(2),
        )
    table = _with_2022_rule(table, df)
    for column, label in DEPLOYED.items():  # the accuracy of the file the rule counts: fp32, fp16 or int8
        if column in points and points[column].notna().any():
            table[label] = points[column].round(1).to_numpy()
    if latencies:
        front = on_a_front(points, latencies[0])
        table[f"Front ({_latency_label(latencies[0]).replace(' (ms)', '')})"] = np.where(front, "yes", "")
        machines = sorted(set(df["latency_machine"].dropna())) if "latency_machine" in df else []
        table.attrs["notes"] = [
            "Latency: ms per batch, median and interquartile range over rounds in which all architectures ran "
            "interleaved, in one session" + (f" on {'; '.join(machines)}" if machines else "") + ".",
            *spread_notes(points, latencies),
        ]
    accuracy_numbers = _accuracy_numbers(points, task_of_rows(df).metric_label)
    return with_numbers(table.reset_index(drop=True), accuracy_numbers)


D22 = {  # the DCASE 2022-2025 rule's columns (asc/report/rules.py): parameters at their stored precision, kB = 1000 B
    "d22_params": "2022 rule: params",
    "d22_mem_fp32_kB": "fp32 (kB)",
    "d22_mem_fp16_kB": "fp16 (kB)",
    "d22_mem_int8_kB": "int8 (kB)",
    "d22_fit_bits": "DCASE 128 kB",
    "d22_macs_ok": "≤ 30 M MACs",
}


DEPLOYED = {
    "accuracy_fp16_pct": "fp16 accuracy (%)",
    "accuracy_int8_pct": "int8 accuracy (%)",
    "accuracy_deployed": "Accuracy at DCASE 128 KB precision (%)",
    "accuracy_deployed_d22": "Accuracy at 128 kB precision (%)",
}


def _with_2022_rule(table: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """The 2022-2025 rule's columns beside the 2021 ones when the rows carry them (a 1-s dataset)."""
    present = [c for c in D22 if c in df and df[c].notna().any()]
    if not present:
        return table
    nets = network_levels(df)
    per_model = df.groupby([*nets, "criterion", "layers"], sort=False, dropna=False)[present].first()
    per_model = per_model.reset_index()
    names = {"criterion": "Criterion", "layers": "Layers", NETWORK: "Network"}
    per_model = per_model.rename(columns={**names, **D22})
    if "DCASE 128 kB" in per_model:
        per_model["DCASE 128 kB"] = [
            PRECISION.get(int(b), "") if pd.notna(b) else "" for b in per_model["DCASE 128 kB"]
        ]
    merged = table.merge(per_model, on=[*(["Network"] if nets else []), "Criterion", "Layers"], how="left")
    merged.attrs = table.attrs
    return merged


def _accuracy_numbers(points: pd.DataFrame, label: str) -> list[dict]:
    """The numbers behind each point's accuracy cell (:func:`asc.report.cells.numbers`; a baseline's with its
    interval), for the CSV alone."""
    return [
        numbers(
            label,
            MeanCI(p["accuracy"], p["accuracy_std"], int(p["n"]), p["acc_low"], p["acc_high"]),
            p["baseline"],
        )
        for _, p in points.iterrows()
    ]


def _fmt_point(p: pd.Series) -> str:
    if p["n"] == 1:
        return f"{p['accuracy']:.1f} (n = 1)"
    return f"{p['accuracy']:.1f} ± {p['accuracy_std']:.1f}"


def fmt_reference_stats(p: pd.Series) -> str:
    """:func:`fmt_reference` from a cost point's precomputed mean, std, n and interval."""
    if p["n"] < 2:
        return _fmt_point(p)
    return f"{p['accuracy']:.1f} ± {p['accuracy_std']:.1f} (n = {p['n']}; 95 % CI {p['acc_low']:.1f}–{p['acc_high']:.1f})"
