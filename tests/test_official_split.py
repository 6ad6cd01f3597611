"""The official (dcase_util 0.2.20) validation split, checked draw by draw on a hand-built fold1_train."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from asc.data.official_split import _shuffle_like_py310, official_validation_split
from asc.data.tau import location_split


def _table(spec: dict[str, dict[str, int]]) -> pd.DataFrame:
    rows = [
        {
            "filename": f"audio/{scene}-{loc}-{k}-a.wav",
            "scene": scene,
            "city": loc.split("-")[0],
            "location": loc,
        }
        for scene, locations in spec.items()
        for loc, n in locations.items()
        for k in range(n)
    ]
    return pd.DataFrame(rows)


# bus listed first on purpose: dcase_util walks scenes alphabetically (airport, then bus).
SPEC = {
    "bus": {"paris-0": 2, "paris-1": 1, "paris-2": 1, "paris-3": 3},
    "airport": {"barcelona-0": 1, "barcelona-1": 1, "lisbon-1": 1, "lisbon-10": 2, "lisbon-2": 3},
}


def _val_locations(table: pd.DataFrame, mask: np.ndarray) -> list[str]:
    return sorted(table.loc[mask, "location"].unique())


def test_hand_worked_three_candidates() -> None:
    # random.Random(0).random() = r1..r18 = .8444 .7580 .4206 .2589 .5113 .4049 .7838 .3033 .4766
    #                                       .5834 .9081 .5047 .2818 .7558 .6184 .2505 .9097 .9828
    # Shuffle of n ids: for i = n-1..1, j = floor(r·(i+1)), swap x[i], x[j]. ceil(0.3·2) = ceil(0.3·3) = 1,
    # ceil(0.3·4) = 2 locations to validation per city.
    # airport (8 clips). Cities in order of the *string-sorted* identifiers: barcelona [0, 1];
    # lisbon [1, 10, 2] (string sort: "10" before "2").
    #   cand 1: barcelona r1→j=1 [0,1] → val b-0 (1 clip); lisbon r2→j=2, r3→j=0 → [10,1,2] → val l-10 (2)
    #           → 3/8 = .375, |err| .075
    #   cand 2: barcelona r4→j=0 [1,0] → b-1 (1); lisbon r5→j=1 [1,10,2]→... [1,2,10], r6→j=0 [2,1,10] → l-2 (3)
    #           → 4/8, |err| .2
    #   cand 3: barcelona r7→j=1 → b-0; lisbon r8→j=0 [2,10,1], r9→j=0 [10,2,1] → l-10 → 3/8 (tie, first kept)
    # bus (7 clips): the stream runs on from airport (one seed for the whole split, not one per scene).
    #   paris [0,1,2,3], sizes 2,1,1,3:
    #   cand 1: r10→j=2 [0,1,3,2], r11→j=2, r12→j=1 → val {0,1} → 3/7, |err| .1286
    #   cand 2: r13→j=1 [0,3,2,1], r14→j=2, r15→j=1 → val {0,3} → 5/7
    #   cand 3: r16→j=1 [0,3,2,1], r17→j=2, r18→j=1 → val {0,3}
    table = _table(SPEC)
    mask = official_validation_split(table, validation_amount=0.3, seed=0, iterations=3)
    assert _val_locations(table, mask) == ["barcelona-0", "lisbon-10", "paris-0", "paris-1"]
    # Reseeding per scene (a plausible misreading) gives bus another draw: r1..r9 → {1,2} (2/7) wins.
    bus = table[table["scene"] == "bus"]
    assert _val_locations(bus, official_validation_split(bus, iterations=3)) == ["paris-1", "paris-2"]
    # Whole locations only, and the mask is over the rows as given.
    assert mask.shape == (len(table),) and mask.dtype == bool
    assert table.groupby("location")["location"].size().index.isin(table.loc[mask, "location"]).sum() == 4


def test_hundred_candidates_and_differs_from_our_draw() -> None:
    table = _table(SPEC)
    official = official_validation_split(table)
    assert _val_locations(table, official) == ["barcelona-0", "lisbon-1", "paris-1", "paris-2"]
    ours = location_split(table, val_fraction=0.3, seed=0)
    assert not np.array_equal(official, ours)


def test_ceil_count_and_single_location_cities() -> None:
    # ceil(0.3 · 10) = 3 of oslo's 10 locations; a city with a single location goes wholly to validation
    # (ceil(0.3 · 1) = 1; our own location_split keeps one location per city in training).
    table = _table({"park": {**{f"oslo-{i}": 1 for i in range(10)}, "rome-0": 5}})
    mask = official_validation_split(table, iterations=1)
    val = _val_locations(table, mask)
    assert len([v for v in val if v.startswith("oslo")]) == 3 and "rome-0" in val


def test_shuffle_is_the_two_argument_fisher_yates() -> None:
    x = list(range(6))
    _shuffle_like_py310(x, random.Random(0))
    y = list(range(6))
    r = random.Random(0)
    for i in reversed(range(1, 6)):
        j = int(r.random() * (i + 1))
        y[i], y[j] = y[j], y[i]
    assert x == y and x != list(range(6))


def test_errors() -> None:
    with pytest.raises(ValueError, match="city>-<location"):
        official_validation_split(_table({"bus": {"paris-a-b": 2}}))
    with pytest.raises(ValueError, match="missing"):
        official_validation_split(pd.DataFrame({"scene": ["bus"]}))
    with pytest.raises(ValueError, match="validation_amount"):
        official_validation_split(_table(SPEC), validation_amount=1.5)
