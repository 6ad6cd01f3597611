"""A complete synthetic results table (baseline, prune rows, fine-tuned layer sets, the fraction study), shared
by the figure and report tests, and a synthetic ``latency.csv`` for its architectures (latency grows with MACs
plus a fixed overhead)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from asc.deploy.latency import COLUMNS as LATENCY_COLUMNS
from asc.deploy.latency import canonical_spec
from asc.nets.model import normalise_spec
from asc.report.cost import memory_columns
from asc.report.results import normalize

LAYER_SETS = ["C1", "C2", "C3", "C1+C2", "C1+C3", "C2+C3", "C1+C2+C3"]
# (params reduction %, paper-convention MAC reduction %) roughly as in the paper.
REDUCTION = {
    "C1": (9, 1.8),
    "C2": (25, 27),
    "C3": (22, 2.2),
    "C1+C2": (34, 29),
    "C1+C3": (31, 4),
    "C2+C3": (47, 29),
    "C1+C2+C3": (48, 31),
}
WIDTHS = {"C1": 16, "C2": 16, "C3": 32}
FRACTIONS = [0.1, 0.25, 0.5, 0.75, 1.0]


def spec_json(layers: str) -> str:
    """The ``model_spec`` of a network pruned in ``layers`` ("" = unpruned): pruned layers keep 11/16 (22/32)."""
    pruned = set(layers.split("+")) if layers else set()
    widths = [w * 11 // 16 if f"C{i + 1}" in pruned else w for i, w in enumerate((16, 16, 32))]
    return json.dumps(normalise_spec({"widths": widths}))


def make_results(dataset: str = "demo", repeats: int = 3, baseline_seeds: int = 1) -> pd.DataFrame:
    """A complete synthetic results table: baselines (seed 0 at 48.58 %, further seeds around it), prune rows
    and fine-tuned rows from baseline seed 0 (``baseline_seed``), fine-tuned layer sets and the fraction study."""
    rng = np.random.default_rng(0)
    rows = [
        {
            "run_id": f"{dataset}-base-{seed}",
            "stage": "baseline",
            "criterion": "none",
            "seed": seed,
            "accuracy": 0.4858 + (0.006 * rng.standard_normal() if seed else 0.0),
            "params_torch": 46246,
            "macs": 286_000_000,
            "train_time_s": 900.0,
            "epochs": 200,
            "model_spec": spec_json(""),
        }
        for seed in range(baseline_seeds)
    ]

    def structure(layers: str) -> dict:
        p, m = REDUCTION[layers]
        return {
            "layers": layers,
            "params_reduction_pct": p,
            "macs_paper_reduction_pct": m,
            "macs_reduction_pct": m + 1,
            "params_torch": round(46246 * (1 - p / 100)),
            "macs": round(286e6 * (1 - m / 100)),
            "kept": " ".join(
                f"{c}:{WIDTHS[c] * 11 // 16}/{WIDTHS[c]}" for c in layers.split("+")
            ),  # as spec_json
            "model_spec": spec_json(layers),
            "baseline_seed": 0,
        }

    for crit in ["cosine", "chebyshev", "average", "l1", "random"]:
        for layers in LAYER_SETS if crit in ("cosine", "l1") else ["C1+C2+C3"]:
            row = {
                "run_id": f"{dataset}-prune-{crit}-{layers}",
                "stage": "prune",
                "criterion": crit,
                "accuracy": 0.16 if crit == "cosine" else 0.10,
                **structure(layers),
            }
            if crit == "cosine":
                names = layers.split("+")
                row["closest_distance"] = json.dumps(
                    {c: rng.uniform(0, 0.4, WIDTHS[c]).tolist() for c in names}
                )
                row["l1_norms"] = json.dumps({c: rng.uniform(2.0, 3.0, WIDTHS[c]).tolist() for c in names})
                row["kept_indices"] = json.dumps(
                    {c: sorted(rng.choice(WIDTHS[c], 11, replace=False).tolist()) for c in names}
                )
            rows.append(row)
    studies = [(c, ls, 1.0) for c in ("cosine", "l1") for ls in LAYER_SETS]
    studies += [(c, "C1+C2+C3", f) for c in ("cosine", "l1", "random") for f in FRACTIONS]
    studies = list(dict.fromkeys(studies))  # a run that two studies name is done once
    for crit, layers, frac in studies:
        for r in range(repeats):
            rows.append(
                {
                    "run_id": f"{dataset}-ft-{crit}-{layers}-{frac}-{r}",
                    "stage": "finetune",
                    "criterion": crit,
                    "fraction": frac,
                    "repeat": r,
                    "seed": r,
                    "finetuned": True,
                    "accuracy": 0.40 + 0.05 * frac + rng.normal(0, 0.005) + (0.01 if crit == "cosine" else 0),
                    "train_time_s": 60 + 600 * frac + rng.normal(0, 5),
                    "epochs": 30,
                    **structure(layers),
                }
            )
    for row in rows:
        row.setdefault("params_keras", row["params_torch"] + 128)
        row.update(memory_columns(row["params_keras"]))
        row.setdefault("dataset", dataset)
        row.setdefault("repeat", 0)
        row.setdefault("seed", 0)
        row.setdefault("class_avg_accuracy", row["accuracy"] - 0.01)
        row.setdefault("log_loss", round(2.6 - 2 * row["accuracy"], 6))
    return normalize(pd.DataFrame(rows))


def make_latency(df: pd.DataFrame, spread: float = 0.05) -> pd.DataFrame:
    """A synthetic ``latency.csv`` for every architecture of ``df``: torch CPU at batch 1 and 64, onnxruntime at
    batch 1; the median grows with MACs, the interquartile range is ``spread`` × the median."""
    records = []
    for spec, rows in df[df["model_spec"].fillna("") != ""].groupby("model_spec"):
        macs = float(rows["macs"].iloc[0])
        for backend, batch, median in (
            ("cpu", 1, 0.5 + macs / 4e7),
            ("cpu", 64, 2.0 + 64 * macs / 6e7),
            ("ort", 1, 0.3 + macs / 5e7),
        ):
            q = spread * median
            records.append(
                {
                    "machine": "synthetic CPU (2 cores), torch 2.13",
                    "architecture": "-".join(map(str, json.loads(spec)["widths"])),
                    "backend": backend,
                    "batch": batch,
                    "rounds": 15,
                    "median_ms": median,
                    "q1_ms": median - q,
                    "q3_ms": median + q,
                    "min_ms": median - 3 * q,
                    "max_ms": median + 4 * q,
                    "model_spec": canonical_spec(spec),
                }
            )
    return pd.DataFrame.from_records(records, columns=LATENCY_COLUMNS)


def with_histories(df: pd.DataFrame, store) -> pd.DataFrame:
    """``df`` with every baseline and fine-tuned row's checkpoint in ``store/<run_id>/``, beside a metrics.json
    holding a per-epoch history (loss falling, selection accuracy rising towards the row's accuracy), as the
    training stages write them."""
    out = df.copy()
    for i, row in out.iterrows():
        if row["stage"] not in ("baseline", "finetune"):
            continue
        folder = store / row["run_id"]
        folder.mkdir(parents=True, exist_ok=True)
        epochs = 12 if row["stage"] == "baseline" else 6
        history = [
            {"epoch": e, "loss": 2.3 / (1 + 0.3 * e), "select_acc": row["accuracy"] * (1 - 0.5 / e)}
            for e in range(1, epochs + 1)
        ]
        (folder / "metrics.json").write_text(json.dumps({"accuracy": row["accuracy"], "history": history}))
        out.at[i, "checkpoint"] = str(folder / "model.pt")
    return out
