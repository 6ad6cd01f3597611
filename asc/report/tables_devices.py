"""The per-device table (DCASE 2025 Task 1): each set of per-device models beside the general model it started
from, both evaluated on the whole evaluation split, the per-device models with device routing (asc/pipeline/stages/
perdevice.py). One line per dataset × criterion × layer set × subset (our fraction or an official split, never
pooled), mean ± std over repeats, with where each model's kept epoch was chosen; per-device columns give the
routed accuracy on each recording device's clips (unseen devices are answered by the general model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asc.report.cells import Line, fmt_acc, lines_table, selected_on
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, layer_key, subsets
from asc.report.results import DEVICE_PREFIX

NOT_LIKE_NOTE = "Not like with like"

KEYS = ["dataset", "criterion", "layers", "subset"]  # subset: a fraction and an official split never pool


def per_device_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of stage ``per_device`` against the ``finetune`` rows of the same criterion, layers and subset."""
    df = one_network(df, "the per-device table")
    routed = df[df["stage"] == "per_device"]
    if routed.empty:
        raise MissingResultsError(
            "no per-device rows; run a `runs` block with per_device: true (e.g. "
            "experiment=dcase_benchmark_demo)"
        )
    routed = routed.assign(subset=subsets(routed))
    general = df[df["stage"] == "finetune"]
    general = general.assign(subset=subsets(general))
    devices = sorted((c for c in routed.columns if c.startswith(DEVICE_PREFIX) and routed[c].notna().any()),
                     key=lambda c: (c[len(DEVICE_PREFIX):].lstrip("abc") != "", c))  # fmt: skip
    records = []
    for key, rows in routed.groupby(KEYS, dropna=False, sort=False):
        match = np.ones(len(general), dtype=bool)
        for column, value in zip(KEYS, key, strict=True):
            match &= (general[column].isna() if pd.isna(value) else general[column] == value).to_numpy()
        rec = Line(zip(KEYS, key, strict=True))
        # the general models these device models started from: the same repeats (seeds) of the same subset
        mine = general[match]
        mine = mine[mine["seed"].isin(rows["seed"])] if mine["seed"].notna().all() else mine
        rec["n"] = len(rows)
        rec.stats("General model (%)", mine["accuracy"], fmt_acc)
        rec["General selected on"] = selected_on(mine, df) if len(mine) else ""
        rec.stats("Per device, routed (%)", rows["accuracy"], fmt_acc)
        rec["Per device selected on"] = selected_on(rows, df)
        rec.stats("Macro avg. (%)", rows["class_avg_accuracy"])
        for c in devices:
            rec.stats(f"{c[len(DEVICE_PREFIX) :]} (%)", rows[c].dropna())
        rec.update({"_l": layer_key(key[2]), "_f": rows["fraction"].iloc[0]})
        records.append(rec)
    table = lines_table(records)
    table = table.sort_values(["dataset", "criterion", "_l", "_f", "subset"])
    table = table.drop(columns=["_l", "_f"]).reset_index(drop=True)
    unlike = table[table["General selected on"] != table["Per device selected on"]]
    table.attrs["notes"] = [
        "General model: the fine-tuned network the device models started from (same subset and repeats); "
        "Selected on: where each kept epoch was chosen (last epoch: no selection, as the DCASE 2025 baseline)."
    ]
    if len(unlike):
        table.attrs["notes"].append(
            f"{NOT_LIKE_NOTE} in {len(unlike)} row(s): the general model was selected on "
            f"{', '.join(sorted(set(unlike['General selected on'])))}, the device models keep their last epoch, "
            "so the gain of the device models is understated; fine-tune with finetune.select=last "
            "(experiment=dcase2025 does)"
        )
    return table
