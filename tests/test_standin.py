"""The TAU-sized features-only stand-in: the real set's counts and splits, build_features' files, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asc.data.standin import expected_counts, generate_standin, plan_standin
from asc.data.tau import SCENES
from asc.features import load_split


def test_full_size_plan_has_the_real_counts_and_a_location_grouped_split() -> None:
    table = plan_standin(seed=0)
    counts = table["split"].value_counts().to_dict()
    assert counts["train"] + counts["val"] == 13962 and counts["evaluate"] == 2968
    assert 0.27 < counts["val"] / 13962 < 0.33
    assert list(table.columns) == ["filename", "scene", "city", "location", "device", "split"]
    locs = {s: set(table.loc[table["split"] == s, "location"]) for s in ("train", "val", "evaluate")}
    assert not locs["train"] & locs["val"] and not (locs["train"] | locs["val"]) & locs["evaluate"]
    assert set(table["scene"]) == set(SCENES) and table["filename"].is_unique
    fold1 = table[table["split"] != "evaluate"]
    assert set(fold1["device"]) == {"a", "b", "c", "s1", "s2", "s3"}  # s4–s6 only in evaluation
    assert set(table.loc[table["split"] == "evaluate", "device"]) >= {"s4", "s5", "s6"}
    assert expected_counts() == {"train": 13962, "evaluate": 2968}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("standin")
    generate_standin(out, scale=0.05, seed=1, frames=100, progress=False)
    return out


def test_writes_what_build_features_writes(small: Path) -> None:
    assert sorted(p.name for p in small.iterdir()) == [
        "evaluate.csv", "evaluate.npy", "stats.npz", "train.csv", "train.npy", "val.csv", "val.npy",
    ]  # fmt: skip
    n = {}
    for split in ("train", "val", "evaluate"):
        raw = np.load(small / f"{split}.npy", mmap_mode="r")
        x, rows = load_split(small, split)
        assert raw.dtype == np.float32 and raw.shape[1:] == (40, 100) and len(rows) == len(raw) == len(x)
        assert (rows["split"] == split).all()
        n[split] = len(raw)
    assert n["train"] + n["val"] == round(13962 * 0.05) and n["evaluate"] == round(2968 * 0.05)
    fold1 = np.concatenate([np.load(small / f"{s}.npy") for s in ("train", "val")]).astype(np.float64)
    stats = np.load(small / "stats.npz")
    np.testing.assert_allclose(stats["mean"], fold1.mean(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(
        stats["std"], fold1.transpose(1, 0, 2).reshape(40, -1).std(axis=1, ddof=1), rtol=1e-6
    )


def test_same_seed_same_bytes_other_seed_other_data(small: Path, tmp_path: Path) -> None:
    generate_standin(tmp_path / "again", scale=0.05, seed=1, frames=100, progress=False)
    generate_standin(tmp_path / "other", scale=0.05, seed=2, frames=100, progress=False)
    for name in ("train.npy", "val.npy", "evaluate.npy", "train.csv", "stats.npz"):
        assert (small / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert (small / "train.npy").read_bytes() != (tmp_path / "other" / "train.npy").read_bytes()


def test_classes_are_learnable_but_not_trivially(small: Path) -> None:
    x, rows = load_split(small, "train")
    xv, rows_v = load_split(small, "val")
    y, yv = ([SCENES.index(s) for s in r["scene"]] for r in (rows, rows_v))
    feats, feats_v = x.mean(axis=2), xv.mean(axis=2)
    centroids = np.stack([feats[np.array(y) == k].mean(axis=0) for k in range(10)])
    pred = ((feats_v[:, None] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert 0.25 < (pred == np.array(yv)).mean() < 0.95  # chance is 0.1


def test_too_small_a_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        generate_standin(tmp_path, scale=0.001)
