"""Nested, stratified fine-tuning fractions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asc.data.fractions import nested_fractions, save_lists

FRACTIONS = [0.1, 0.2, 0.25, 0.5, 0.75, 1.0]


def make_table(seed: int = 0) -> pd.DataFrame:
    """10 scenes x 4 devices with uneven stratum sizes (like TAU: device a dominates), rows shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(10):
        for d, base in (("a", 60), ("b", 12), ("c", 11), ("s1", 3)):
            rows += [{"scene": f"scene{s}", "device": d} for _ in range(base + s)]
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    table["filename"] = [f"audio/{i:05d}.wav" for i in range(len(table))]
    table.index = rng.permutation(len(table)) + 1000  # labels that are not positions
    return table


def test_sizes_nesting_and_balance():
    table = make_table()
    n = len(table)
    subsets = nested_fractions(table, FRACTIONS, seed=1)
    assert list(subsets) == FRACTIONS
    strata = table.groupby(["scene", "device"]).size()
    previous = np.array([], dtype=int)
    for f in FRACTIONS:
        pos = subsets[f]
        assert np.all(np.diff(pos) > 0) and pos.min() >= 0 and pos.max() < n  # sorted unique positions
        assert abs(len(pos) - f * n) <= 0.02 * n, (f, len(pos), f * n)
        assert set(previous) <= set(pos)  # nested
        counts = table.iloc[pos].groupby(["scene", "device"]).size().reindex(strata.index, fill_value=0)
        assert np.all(np.abs(counts - f * strata) < 1 + 1e-9)  # every stratum within one file of its share
        assert counts.min() >= 1  # even the 3-file strata are represented at 10 %
        previous = pos
    assert np.array_equal(subsets[1.0], np.arange(n))


def test_seeds():
    table = make_table()
    a = nested_fractions(table, [0.1, 0.5], seed=0)
    b = nested_fractions(table, [0.1, 0.5], seed=0)
    c = nested_fractions(table, [0.1, 0.5], seed=1)
    assert all(np.array_equal(a[f], b[f]) for f in a)
    assert len(set(a[0.1]) ^ set(c[0.1])) > 0.5 * len(a[0.1])  # mostly different files
    # The draw does not depend on which other fractions were requested: one job per fraction still nests.
    assert np.array_equal(nested_fractions(table, [0.5], seed=0)[0.5], a[0.5])
    singles = [nested_fractions(table, [f], seed=0)[f] for f in np.arange(0.05, 1.0001, 0.05)]
    assert all(set(small) <= set(big) for small, big in zip(singles, singles[1:], strict=False))
    # Nor on the row order of the table: the same files are chosen.
    shuffled = table.sample(frac=1.0, random_state=5)
    chosen = set(shuffled["filename"].iloc[nested_fractions(shuffled, [0.1], seed=0)[0.1]])
    assert chosen == set(table["filename"].iloc[a[0.1]])


def test_equal_strata_totals():
    # Many equal strata at fractions whose exact share is x.5 files: plain rounding would be off by half a
    # file per stratum (20 in total); the spread offsets keep the total within one file of f * N.
    table = pd.DataFrame({"scene": np.repeat(np.arange(40), 10), "device": "a"})
    table["filename"] = [f"{i}.wav" for i in range(len(table))]
    for f in (0.15, 0.25, 0.35, 0.45, 0.55, 0.85):
        assert abs(len(nested_fractions(table, [f], seed=0)[f]) - f * len(table)) <= 1


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), "x", None])
def test_bad_fraction(bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        nested_fractions(make_table(), [0.5, bad], seed=0)


def test_bad_table():
    with pytest.raises(ValueError, match="device"):
        nested_fractions(make_table().drop(columns="device"), [0.5], seed=0)
    with pytest.raises(ValueError, match="empty"):
        nested_fractions(make_table().iloc[:0], [0.5], seed=0)


def test_save_lists(tmp_path):
    table = make_table()
    subsets = nested_fractions(table, [0.1, 1.0], seed=3)
    paths = save_lists(table, subsets, tmp_path / "lists")
    assert [p.name for p in paths] == ["fraction_0.10.csv", "fraction_1.00.csv"]
    names = pd.read_csv(paths[0])["filename"]
    assert list(names) == list(table["filename"].iloc[subsets[0.1]])
    assert len(pd.read_csv(paths[1])) == len(table)
    with pytest.raises(ValueError, match="collide"):
        save_lists(table, {0.101: subsets[0.1], 0.1: subsets[0.1]}, tmp_path)
