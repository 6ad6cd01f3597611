"""The per-device table: routed sets of device models beside the general model they started from."""

from __future__ import annotations

import pandas as pd
import pytest

from asc.report.queries import MissingResultsError
from asc.report.results import normalize
from asc.report.tables_devices import per_device_table


def rows() -> pd.DataFrame:
    common = {
        "dataset": "demo",
        "criterion": "cosine",
        "layers": "C1+C2+C3",
        "split": "split25",
        "fraction": 0.25,
    }
    table = [
        {**common, "run_id": f"finetune/{r}", "stage": "finetune", "repeat": r, "accuracy": acc, "acc_a": acc}
        for r, acc in enumerate([0.40, 0.44])
    ] + [
        {**common, "run_id": f"perdevice/{r}", "stage": "per_device", "repeat": r, "accuracy": acc,
         "class_avg_accuracy": acc, "acc_a": acc + 0.1, "acc_s4": acc - 0.1}
        for r, acc in enumerate([0.50, 0.52])
    ]  # fmt: skip
    return normalize(pd.DataFrame(table))


def test_routed_models_sit_beside_their_general_model() -> None:
    table = per_device_table(rows())
    (line,) = table.to_dict("records")
    assert line["subset"] == "split25" and line["n"] == 2
    assert line["General model (%)"] == "42.0 ± 2.8"
    assert line["Per device, routed (%)"] == "51.0 ± 1.4"
    assert line["a (%)"] == "61.0 ± 1.4" and line["s4 (%)"] == "41.0 ± 1.4"


def test_without_per_device_rows_it_names_the_experiment() -> None:
    with pytest.raises(MissingResultsError, match="per_device: true"):
        per_device_table(rows()[lambda d: d["stage"] != "per_device"])
