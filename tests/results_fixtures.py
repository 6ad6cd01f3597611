"""A complete synthetic results table (baseline, prune rows, fine-tuned layer sets, the fraction study), shared
by the figure and report tests. Cost columns are synthetic too: latency grows with MACs plus a fixed overhead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from asc.cost import memory_columns
from asc.results import normalize

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


def make_results(dataset: str = "demo", repeats: int = 3) -> pd.DataFrame:
    """A complete synthetic results table: baseline, prune rows, fine-tuned layer sets and the fraction study."""
    rng = np.random.default_rng(0)
    rows = [
        {
            "run_id": f"{dataset}-base",
            "stage": "baseline",
            "criterion": "none",
            "accuracy": 0.4858,
            "params_torch": 46246,
            "macs": 286_000_000,
            "train_time_s": 900.0,
            "epochs": 200,
        }
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
            "kept": " ".join(f"{c}:11/16" for c in layers.split("+")),
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
        row.update(
            {
                "lat_cpu_b1_ms": 0.5 + row["macs"] / 4e7,
                "lat_cpu_b64_ms": 2.0 + 64 * row["macs"] / 6e7,
                "lat_ort_b1_ms": 0.3 + row["macs"] / 5e7,
                "machine": "synthetic CPU (2 cores), torch 2.13",
            }
        )
        row.setdefault("dataset", dataset)
        row.setdefault("repeat", 0)
        row.setdefault("seed", 0)
        row.setdefault("class_avg_accuracy", row["accuracy"] - 0.01)
        row.setdefault("log_loss", 1.5)
    return normalize(pd.DataFrame(rows))
