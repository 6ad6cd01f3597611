"""The official DCASE 2021 Task 1A validation split, re-implemented draw for draw.

The baseline calls dcase_util 0.2.20 ``validation_split(fold=1, split_type='balanced', validation_amount=0.3,
balancing_mode='identifier_two_level_hierarchy', seed=0)``, i.e. ``AcousticSceneDataset.validation_files_balanced``:

* ``random.seed(seed)`` once, before the scene loop (the stream then runs on through every scene);
* scenes in alphabetical order (``unique_scene_labels`` sorts);
* per scene, its identifiers (``city-location``) sorted as strings (``unique_identifiers`` sorts) are split at the
  ``-`` into a nested insertion-ordered dict {city: {location: files}}: cities in order of first appearance in
  that sorted list, locations likewise (so ``"10"`` comes before ``"2"``);
* ``iterations`` (100) candidates per scene; in each, per city, ``random.shuffle(ids, random.random)`` and the
  first ``ceil(validation_amount · len(ids))`` locations go to validation (a city with a single location goes
  entirely to validation, as in the original);
* the candidate whose file ratio is closest to ``validation_amount`` wins (``numpy.argmin``: the first one).

``random.shuffle(x, random)`` lost its second argument in Python 3.11; with it, CPython ≤ 3.10 ran the
Fisher–Yates loop ``for i in reversed(range(1, len(x))): j = floor(random() * (i + 1)); swap`` — reproduced by
:func:`_shuffle_like_py310` with the same Mersenne Twister stream (``random.Random(seed).random()``), whose
``random()`` is unchanged across versions.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd

__all__ = ["official_validation_split"]


def _shuffle_like_py310(x: list, rand: random.Random) -> None:
    """``random.shuffle(x, rand.random)`` as Python ≤ 3.10 ran it (in place)."""
    for i in reversed(range(1, len(x))):
        j = math.floor(rand.random() * (i + 1))
        x[i], x[j] = x[j], x[i]


def _hierarchy(scene_rows: pd.DataFrame) -> dict[str, dict[str, list[int]]]:
    """{city: {location: row positions}} in dcase_util's order (see the module docstring)."""
    data: dict[str, dict[str, list[int]]] = {}
    for identifier in sorted(scene_rows["location"].unique()):
        parts = identifier.split("-")
        if len(parts) != 2:
            raise ValueError(
                f"identifier {identifier!r} is not <city>-<location>: the official two-level split needs exactly "
                "one '-' in every identifier (meta.csv's identifier column)"
            )
        rows = scene_rows.index[scene_rows["location"] == identifier].tolist()
        data.setdefault(parts[0], {})[parts[1]] = rows
    return data


def official_validation_split(
    train: pd.DataFrame, *, validation_amount: float = 0.3, seed: int = 0, iterations: int = 100
) -> np.ndarray:
    """Boolean mask over the rows of ``train`` (fold1_train: columns ``scene`` and ``location`` = the TAU
    identifier ``city-location``, one row per clip) marking the official baseline's validation clips."""
    missing = [c for c in ("scene", "location") if c not in train.columns]
    if missing:
        raise ValueError(f"official_validation_split needs columns scene and location; missing {missing}")
    if not 0.0 < validation_amount < 1.0:
        raise ValueError(f"validation_amount must be in (0, 1), got {validation_amount}")
    table = train.reset_index(drop=True)
    rand = random.Random(seed)
    mask = np.zeros(len(table), dtype=bool)
    for scene in sorted(table["scene"].unique()):
        data = _hierarchy(table.loc[table["scene"] == scene])
        best, best_err = None, math.inf
        for _ in range(iterations):
            val_rows: list[int] = []
            n_train = 0
            for locations in data.values():
                ids = list(locations)
                _shuffle_like_py310(ids, rand)
                split = int(np.ceil(validation_amount * len(ids)))
                val_rows += [r for loc in ids[:split] for r in locations[loc]]
                n_train += sum(len(locations[loc]) for loc in ids[split:])
            err = abs(len(val_rows) / float(len(val_rows) + n_train) - validation_amount)
            if err < best_err:  # strict: ties keep the earlier candidate, like numpy.argmin
                best, best_err = val_rows, err
        mask[best] = True
    return mask
