"""Report: tables (CSV + Markdown + LaTeX) and figures, all views of the results table.

``write_report`` reads only the results table and never trains: whatever the table holds is reported, and a
table or figure whose rows are missing is skipped with a warning naming the experiment that produces them.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from asc import cost, figures
from asc.atomic import atomic_write_text
from asc.figures.accuracy import ALL_LAYERS
from asc.results import MissingResultsError, for_dataset, layer_key, load, mean_std, select, sort_layer_sets

log = logging.getLogger(__name__)

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


# ----------------------------------------------------------------------------------------------------------
# Writers: a tiny Markdown and LaTeX formatter, so no `tabulate`/`jinja2` dependency is needed.


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(value) >= 1000:
        return str(int(value))  # params that became float because of a missing value elsewhere
    return str(value)


_NUMBER = re.compile(r"^-?\d+(\.\d+)?( ± \d+(\.\d+)?)?$")


def _right_aligned(column: pd.Series) -> bool:
    """Numbers, and "mean ± std" text, read best right-aligned so the decimal points line up."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    texts = [str(v) for v in column if _cell(v)]
    return bool(texts) and all(_NUMBER.match(t) for t in texts)


def to_markdown(table: pd.DataFrame) -> str:
    header = [str(c) for c in table.columns]
    body = [[_cell(v).replace("|", r"\|") or "–" for v in row] for row in table.itertuples(index=False)]
    align = ["---:" if _right_aligned(table[c]) else ":---" for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("–", "--")


def to_latex(table: pd.DataFrame) -> str:
    spec = "".join("r" if _right_aligned(table[c]) else "l" for c in table.columns)
    lines = [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex(str(c)) for c in table.columns) + r" \\",
    ]
    lines.append(r"\midrule")
    lines += [
        " & ".join(_tex(_cell(v) or "–") for v in row) + r" \\" for row in table.itertuples(index=False)
    ]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, stem: Path) -> list[Path]:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex`` (booktabs tabular) atomically; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ext) for ext in (".csv", ".md", ".tex")]
    texts = [table.to_csv(index=False), to_markdown(table), to_latex(table)]
    for path, text in zip(paths, texts, strict=True):
        atomic_write_text(path, text)
    return paths


def summary_markdown(df: pd.DataFrame) -> str:
    """The summary table as Markdown, ready to print at the end of a run (a note if there are no rows yet)."""
    if df.empty:
        return "_No results yet: run `asc experiment=demo` or `asc` to fill the results table._\n"
    return to_markdown(summary_table(df))


TABLES = {"table1": table1, "criteria": criteria_table, "cost": cost_table}


def write_report(results_path: Path, out_dir: Path) -> dict[str, list[Path]]:
    """Write every table and figure the results table has data for; returns {name: written paths}.

    With several datasets in one table, the per-dataset tables and figures go to ``out_dir/<dataset>/`` and
    their names are prefixed ``<dataset>/``; the summary table always covers all datasets.
    """
    df = load(results_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if df.empty:
        log.warning("results table %s has no rows; nothing to report", results_path)
        return written
    written["summary"] = write_table(summary_table(df), out_dir / "summary")
    datasets = sorted(set(df["dataset"]))
    for dataset in datasets:
        sub = for_dataset(df, dataset)
        where, prefix = (out_dir, "") if len(datasets) == 1 else (out_dir / dataset, f"{dataset}/")
        for name, build in TABLES.items():
            try:
                written[prefix + name] = write_table(build(sub), where / name)
            except MissingResultsError as err:
                log.warning("skipping %s%s: %s", prefix, name, err)
        for name, draw in figures.FIGURES.items():
            try:
                written[prefix + name] = draw(sub, where / name)
            except MissingResultsError as err:
                log.warning("skipping %s%s: %s", prefix, name, err)
    log.info("report: wrote %d item(s) to %s", len(written), out_dir)
    return written


__all__ = [
    "cost_table",
    "criteria_table",
    "fmt_mean_std",
    "summary_markdown",
    "summary_table",
    "table1",
    "to_latex",
    "to_markdown",
    "write_report",
    "write_table",
]
