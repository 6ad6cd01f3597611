"""Nested, stratified subsets of the training set for the fine-tuning data-fraction study (paper Fig. 6).

Within each (scene, device) stratum the files are shuffled once with the given seed and fraction f takes a
prefix of that permutation. Prefixes of one permutation are nested, so the 10 % subset is contained in the
20 % subset and so on: the accuracy-vs-fraction curve then measures adding data, not drawing a new sample.
Stratifying keeps every scene and device represented even at 10 %, like the full training set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_write_text
from asc.core.errors import InputError


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    out = []
    for f in fractions:
        try:
            value = float(f)
        except (TypeError, ValueError) as err:
            raise ValueError(f"fraction {f!r} is not a number; fractions must lie in (0, 1]") from err
        if not math.isfinite(value) or not 0.0 < value <= 1.0:
            raise ValueError(f"fraction {f!r} is outside (0, 1]; use e.g. [0.1, 0.25, 0.5, 0.75, 1.0]")
        out.append(value)
    if not out:
        raise ValueError("no fractions given; expected a non-empty list of values in (0, 1]")
    return out


def _stratum_counts(sizes: np.ndarray, offsets: np.ndarray, fraction: float) -> np.ndarray:
    """How many files each stratum contributes: floor(fraction * size + offset), at least one if non-empty.

    Each count is a non-decreasing function of the fraction alone, so subsets stay nested even when the
    fractions are drawn in separate calls (one fine-tuning job per fraction), and each is within one file of
    its exact share. The offsets are a shuffled even grid over [0, 1) rather than a fixed 0.5: with many
    equal-sized strata, plain rounding would push every stratum the same way and the total far from f*N.
    """
    counts = np.floor(fraction * sizes + offsets).astype(np.int64)
    return np.minimum(np.where(sizes > 0, np.maximum(counts, 1), 0), sizes)


def nested_fractions(
    table: pd.DataFrame,
    fractions: Sequence[float],
    seed: int,
    strata: Sequence[str] = ("scene", "device"),
) -> dict[float, np.ndarray]:
    """Row positions (sorted, into ``table``) of the subset for each fraction; subsets are nested.

    ``seed`` picks the permutation, so fine-tuning repeats can use different subsets (different seeds) and a
    re-run reproduces them (same seed). Fraction 1.0 is always the whole table.
    """
    wanted = _check_fractions(fractions)
    missing_cols = [c for c in strata if c not in table.columns]
    if missing_cols:
        raise ValueError(
            f"table has no column(s) {missing_cols} to stratify by; columns: {list(table.columns)}"
        )
    if len(table) == 0:
        raise ValueError("cannot draw training fractions from an empty table")
    rng = np.random.default_rng(seed)
    # Strata in sorted key order and files sorted by name before shuffling: the subsets are then a function of
    # the set of files and the seed, not of the order the index happened to list them in.
    if strata:
        groups = table.reset_index(drop=True).groupby(list(strata), sort=True, dropna=False).indices
    else:  # no strata (a tagging set): the whole table is one stratum
        groups = {(): np.arange(len(table))}
    names = table["filename"].astype(str).to_numpy() if "filename" in table.columns else None
    perms = []
    for key in sorted(groups, key=str):
        pos = np.asarray(groups[key], dtype=np.int64)
        if names is not None:
            pos = pos[np.argsort(names[pos], kind="stable")]
        perms.append(rng.permutation(pos))
    sizes = np.array([len(p) for p in perms], dtype=np.int64)
    # Drawn after the permutations, so the subsets do not depend on which fractions are asked for.
    offsets = (rng.permutation(len(perms)) + 0.5) / len(perms)
    subsets: dict[float, np.ndarray] = {}
    for f in wanted:
        counts = _stratum_counts(sizes, offsets, f)
        subsets[f] = np.sort(np.concatenate([p[:c] for p, c in zip(perms, counts, strict=True)]))
    return subsets


def _fraction_name(fraction: float) -> str:
    return f"fraction_{fraction:.2f}.csv"


def save_lists(table: pd.DataFrame, subsets: dict[float, np.ndarray], out_dir: Path) -> list[Path]:
    """Write one CSV of filenames per fraction (``fraction_0.10.csv``, ...) atomically; returns the paths."""
    if "filename" not in table.columns:
        raise ValueError(f"table has no 'filename' column; columns: {list(table.columns)}")
    names = [_fraction_name(f) for f in subsets]
    if len(set(names)) != len(names):
        raise ValueError(f"fractions {sorted(subsets)} collide when written with two decimals: {names}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for positions, name in zip(subsets.values(), names, strict=True):
        path = out_dir / name
        atomic_write_text(path, table["filename"].iloc[positions].to_frame().to_csv(index=False))
        written.append(path)
    return written


def pool_of(table: pd.DataFrame, train_on: str) -> pd.DataFrame:
    """The rows fine-tuning draws from: ``train`` (fold1_train minus the hold-out) or all of ``fold1_train``."""
    return table[table["split"] == "train"] if train_on == "train" else table[table["split"] != "evaluate"]


def runs_setting(runs: Any, fraction: float) -> str:
    """Where a fine-tuning fraction is set: the ``runs`` entries whose ``fractions`` list it (``runs[1].fractions``),
    else ``runs[…].fractions``."""
    found = [
        f"runs[{i}].fractions"
        for i, block in enumerate(runs or [])
        if isinstance(block, Mapping) and any(_same(f, fraction) for f in block.get("fractions") or [])
    ]
    return " / ".join(found) or "runs[…].fractions"


def _same(a: Any, b: float) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return False


def check_fractions(
    rows: pd.DataFrame,
    fractions: Sequence[float],
    strata: Sequence[str] = ("scene", "device"),
    *,
    setting: Callable[[float], str] = lambda f: "runs[…].fractions",
):
    """Every stratum keeps its share: a fraction that would round a stratum down to no clip is an error (not the
    at-least-one-clip rounding that silently turns 1 % into 20 %). No ``strata`` (tagging): the whole pool is one.
    ``setting(f)``: the key that sets fraction ``f`` (:func:`runs_setting`), which the error names as the fix."""
    import pandas as pd

    if not strata:  # one stratum: the whole pool
        sizes = pd.Series({("all clips",): len(rows)})
    else:
        sizes = rows.groupby(list(strata)).size()
    smallest = int(sizes.min())
    for f in fractions:
        if f * smallest < 0.5:
            where = ", ".join(map(str, sizes.idxmin()))
            raise InputError(
                f"fraction {f:g} leaves the smallest stratum ({where}: {smallest} clips) with "
                f"{f * smallest:.2f} clips; set {setting(f)} to fractions >= {0.5 / smallest:.3g} on this "
                "dataset (or drop that fraction)"
            )
