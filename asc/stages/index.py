"""Stage ``index``: one row per clip with its split (train | val | evaluate), the validation hold-out drawn here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asc.data import tau


def build(
    root: Path,
    work: Path,
    *,
    method: str,
    amount: float,
    seed: int,
    expected_counts: Mapping[str, int],
    audio: bool = True,
) -> dict[str, Any]:
    """``audio=False``: a features-only dataset, whose clips have no WAV to check for."""
    table = tau.read_folds(root, expected_counts=expected_counts, audio=audio)
    table = tau.split_validation(table, method=method, amount=amount, seed=seed)
    tau.save_index(table, work)
    return {"clips": table["split"].value_counts().to_dict()}
