"""Stage ``prune``: one criterion config applied to the baseline (kept filters, surgery, pre-fine-tuning info)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asc.complexity import paper_macs
from asc.model import BaselineCNN
from asc.prune import prune_model


def build(
    baseline: BaselineCNN, config: Mapping[str, Any]
) -> tuple[BaselineCNN, dict[str, Any], dict[str, Any]]:
    """Returns (pruned model, the criterion's info dict, the results-row fields it determines)."""
    model, info = prune_model(baseline, config)
    kept = " ".join(f"{k}:{len(v)}/{len(info['l1_norms'][k])}" for k, v in info["kept"].items())
    fields = {
        "criterion": config["name"],
        "layers": "+".join(info["layers"]),
        "kept": kept,
        "macs_paper": paper_macs(baseline, info["kept"]),
        "seed": int(config.get("seed", 0)),
        "closest_distance": json.dumps(info["closest_distance"]),
        "l1_norms": json.dumps(info["l1_norms"]),
        "kept_indices": json.dumps(info["kept"]),
        "train_time_s": 0.0,
        "epochs": 0,
    }
    return model, info, fields
