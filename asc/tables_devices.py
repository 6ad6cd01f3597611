"""The per-device table (DCASE 2025 Task 1): each set of per-device models beside the general model it started
from, both evaluated on the whole evaluation split, the per-device models with device routing (asc/stages/
perdevice.py). One line per criterion × layer set × subset, mean ± std over repeats; per-device columns give the
routed accuracy on each recording device's clips (unseen devices are answered by the general model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.results import DEVICE_PREFIX, MissingResultsError, layer_key
from asc.tables import fmt_acc, fmt_mean_std

KEYS = ["criterion", "layers", "split", "fraction"]


def per_device_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of stage ``per_device`` against the ``finetune`` rows of the same criterion, layers and subset."""
    routed = df[df["stage"] == "per_device"]
    if routed.empty:
        raise MissingResultsError(
            "no per-device rows; run a `runs` block with per_device: true (e.g. "
            "experiment=dcase_benchmark_demo)"
        )
    general = df[df["stage"] == "finetune"]
    devices = sorted((c for c in routed.columns if c.startswith(DEVICE_PREFIX) and routed[c].notna().any()),
                     key=lambda c: (c[len(DEVICE_PREFIX):].lstrip("abc") != "", c))  # fmt: skip
    records = []
    for key, rows in routed.groupby(KEYS, dropna=False, sort=False):
        match = np.ones(len(general), dtype=bool)
        for column, value in zip(KEYS, key, strict=True):
            match &= (general[column].isna() if pd.isna(value) else general[column] == value).to_numpy()
        rec = dict(zip(KEYS, key, strict=True))
        rec["subset"] = rec.pop("split") or (
            f"{rec['fraction'] * 100:g}%" if pd.notna(rec["fraction"]) else ""
        )
        rec.update(
            {
                "n": len(rows),
                "General model (%)": fmt_acc(general.loc[match, "accuracy"]),
                "Per device, routed (%)": fmt_acc(rows["accuracy"]),
                "Macro avg. (%)": fmt_mean_std(rows["class_avg_accuracy"]),
                **{f"{c[len(DEVICE_PREFIX) :]} (%)": fmt_mean_std(rows[c].dropna()) for c in devices},
                "_l": layer_key(key[1]),
            }
        )
        records.append(rec)
    table = pd.DataFrame.from_records(records).sort_values(["criterion", "_l", "fraction"])
    return table.drop(columns=["_l", "fraction"]).reset_index(drop=True)
