"""The report's tables, each a pure function of the results table returning a DataFrame.

Table 1 of the paper, every criterion x layer set, the cost of every model, and a summary of all rows. When
the rows a table needs are missing it raises :class:`asc.results.MissingResultsError` naming the experiment
that produces them. ``TABLES`` names those ``asc.report.write_report`` writes per dataset (the summary covers
all datasets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc import cost
from asc.figures.accuracy import ALL_LAYERS
from asc.results import MissingResultsError, layer_key, mean_std, select, sort_layer_sets

__all__ = ["TABLES", "cost_table", "criteria_table", "fmt_mean_std", "summary_table", "table1"]

TABLE1_METHODS = {
    "cosine": "Proposed cosine distance based method",
    "chebyshev": "Chebyshev distance based method",
    "average": "Average filters",
    "l1": "l1-norm method",
    "random": "Randomly initialized pruned network",
}


def fmt_mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    """'48.6 ± 0.7' (accuracies in %); a single value has no ± part; no values gives ''."""
    mean, std, n = mean_std(np.asarray(list(values), dtype=float) * scale)
    if n == 0:
        return ""
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _first(rows: pd.DataFrame, column: str):
    values = rows[column].dropna()
    values = values[values != ""] if values.dtype == object else values
    return values.iloc[0] if len(values) else np.nan


def table1(df: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 1: accuracy of the C1+C2+C3-pruned network without fine-tuning, per selection method."""
    records = []
    base = select(df, stage="baseline")
    if not base.empty:
        records.append(
            {"Method": "Unpruned network", "Kept": "", "Accuracy (%)": fmt_mean_std(base["accuracy"])}
        )
    found = 0
    for crit, name in TABLE1_METHODS.items():
        rows = select(df, stage="prune", criterion=crit, layers=ALL_LAYERS, finetuned=False)
        if rows.empty:
            continue
        found += 1
        acc = fmt_mean_std(rows["accuracy"])
        records.append(
            {"Method": f"{name} ({ALL_LAYERS})", "Kept": _first(rows, "kept"), "Accuracy (%)": acc}
        )
    if not found:
        raise MissingResultsError(
            f"Table 1 needs prune rows for {ALL_LAYERS} with criteria {list(TABLE1_METHODS)}; "
            "run `asc experiment=paper_table1`"
        )
    return pd.DataFrame.from_records(records)


def _structure(rows: pd.DataFrame) -> dict:
    """Size of a (pruned) model: identical across repeats, so take it from the first row that has it."""
    macs, macs_paper = _first(rows, "macs"), _first(rows, "macs_paper")
    return {
        "Kept": _first(rows, "kept"),
        "Params": _first(rows, "params_torch"),
        "Params (Keras)": _first(rows, "params_keras"),
        "MACs (M)": round(macs / 1e6, 2) if pd.notna(macs) else np.nan,
        "MACs paper (M)": round(macs_paper / 1e6, 2) if pd.notna(macs_paper) else np.nan,
        "Params red. (%)": round(_first(rows, "params_reduction_pct"), 1),
        "MACs red. (%)": round(_first(rows, "macs_reduction_pct"), 1),
        "MACs paper red. (%)": round(_first(rows, "macs_paper_reduction_pct"), 1),
    }


def criteria_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every criterion x layer set: size, reductions, accuracy before and after fine-tuning at each fraction."""
    pruned = df[df["stage"] != "baseline"]
    if pruned.empty:
        raise MissingResultsError("the criteria table needs prune rows; run `asc experiment=paper_fig3`")
    fractions = sorted(pruned.loc[pruned["finetuned"], "fraction"].dropna().unique())
    records = []
    base = select(df, stage="baseline")
    keys = [("none", "")] if not base.empty else []
    keys += sorted(set(zip(pruned["criterion"], pruned["layers"], strict=True)), key=lambda k: (k[0], k[1]))
    for crit, layers in keys:
        rows = (
            base if crit == "none" else pruned[(pruned["criterion"] == crit) & (pruned["layers"] == layers)]
        )
        rec = {"Criterion": crit, "Layers": layers, **_structure(rows)}
        rec["Acc. no FT (%)"] = fmt_mean_std(rows.loc[~rows["finetuned"], "accuracy"])
        for f in fractions:
            rec[f"Acc. FT {f * 100:g}% (%)"] = fmt_mean_std(
                select(rows, finetuned=True, fraction=f)["accuracy"]
            )
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    order = {ls: i for i, ls in enumerate(sort_layer_sets(table["Layers"]))}
    # Baseline first, then by layer set in the paper's order, then criterion.
    table["_b"] = table["Criterion"] != "none"
    table["_l"] = table["Layers"].map(order)
    return table.sort_values(["_b", "_l", "Criterion"]).drop(columns=["_b", "_l"]).reset_index(drop=True)


LATENCY_LABELS = {"cpu": "CPU", "ort": "ORT", "cuda": "CUDA"}
PRECISION = {32: "fp32", 16: "fp16", 8: "int8", 0: "no"}


def _latency_label(column: str) -> str:
    """lat_cpu_b1_ms -> 'CPU b1 (ms)'."""
    _, backend, batch, _ = column.split("_")
    return f"{LATENCY_LABELS.get(backend, backend)} {batch} (ms)"


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every model (baseline, criterion x layer set): parameter memory, the DCASE 128 KB check, MACs, measured
    latencies, accuracy, and whether it lies on the accuracy-vs-MACs / accuracy-vs-latency Pareto front."""
    points = cost.cost_points(df)
    if points.empty or points["macs"].isna().all():
        raise MissingResultsError(
            "the cost table needs model rows with accuracy and MACs; run `asc experiment=demo` or `asc`"
        )
    latencies = cost.latency_columns_in(points)
    fits = points["dcase_fit_bits"]
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
            **{_latency_label(c): points[c].round(2) for c in latencies},
            "Accuracy (%)": [
                f"{m:.1f}" if n == 1 else f"{m:.1f} ± {s:.1f}"
                for m, s, n in zip(points["accuracy"], points["accuracy_std"], points["n"], strict=True)
            ],
            "Accuracy of": points["basis"],
            "Front (MACs)": np.where(cost.pareto_mask(points["macs"], points["accuracy"]), "yes", ""),
        }
    )
    if latencies:
        front = cost.pareto_mask(points[latencies[0]], points["accuracy"])
        table[f"Front ({_latency_label(latencies[0]).replace(' (ms)', '')})"] = np.where(front, "yes", "")
    return table


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, stage, criterion, layers, fraction): mean ± std over repeats of the metrics."""
    if df.empty:
        raise MissingResultsError("the results table is empty; run `asc experiment=demo` or `asc` to fill it")
    keys = ["dataset", "stage", "criterion", "layers", "fraction"]
    stage_order = {"baseline": 0, "prune": 1, "finetune": 2}
    records = []
    for key, rows in df.groupby(keys, dropna=False, sort=False):
        rec = dict(zip(keys, key, strict=True))
        rec["fraction"] = "" if pd.isna(rec["fraction"]) else f"{rec['fraction'] * 100:g}%"
        rec.update(
            {
                "n": len(rows),
                "Accuracy (%)": fmt_mean_std(rows["accuracy"]),
                "Class-avg acc. (%)": fmt_mean_std(rows["class_avg_accuracy"]),
                "Log loss": fmt_mean_std(rows["log_loss"], scale=1.0, digits=3),
                "Params": _first(rows, "params_torch"),
                "MACs (M)": round(_first(rows, "macs") / 1e6, 2),
                "Time (s)": fmt_mean_std(rows["train_time_s"], scale=1.0, digits=1),
                "_s": stage_order.get(key[1], 9),
                "_l": layer_key(key[3]),
                "_f": rows["fraction"].iloc[0],
            }
        )
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    table = table.sort_values(["dataset", "_s", "criterion", "_l", "_f"], na_position="first")
    return table.drop(columns=["_s", "_l", "_f"]).reset_index(drop=True)


TABLES = {"table1": table1, "criteria": criteria_table, "cost": cost_table}
