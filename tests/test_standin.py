"""The TAU-sized features-only stand-in: the real set's counts and layout, build_features' files, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asc.data import tau
from asc.data.feature_arrays import load_split
from asc.data.standin import MIN_SCALE, expected_counts, plan_standin, render_features, write_standin
from asc.data.tau import SCENES

SCALE = 0.05


def test_full_size_plan_has_the_real_counts_and_tau_structure() -> None:
    table = plan_standin(seed=0)
    assert table["split"].value_counts().to_dict() == {"train": 13962, "evaluate": 2968}
    assert expected_counts() == {"train": 13962, "evaluate": 2968}
    assert list(table.columns) == ["filename", "scene", "city", "location", "device", "split"]
    assert set(table["scene"]) == set(SCENES) and table["filename"].is_unique
    locs = {s: set(table.loc[table["split"] == s, "location"]) for s in ("train", "evaluate")}
    assert not locs["train"] & locs["evaluate"]  # evaluation locations are unseen, as in TAU
    assert set(table.loc[table["split"] == "train", "device"]) == {"a", "b", "c", "s1", "s2", "s3"}
    assert set(table.loc[table["split"] == "evaluate", "device"]) >= {"s4", "s5", "s6"}  # unseen devices
    for name in table["filename"][:50]:  # names parse back to the table's fields, as TAU's do
        fields = tau.parse_filename(name)
        row = table.set_index("filename").loc[name]
        assert (fields["scene"], fields["city"], fields["location"], fields["device"]) == (
            row["scene"],
            row["city"],
            row["location"],
            row["device"],
        )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset root, features folder) of a 5 % stand-in with 100 frames per clip."""
    root, feats = tmp_path_factory.mktemp("standin"), tmp_path_factory.mktemp("features")
    write_standin(root, seed=1, scale=SCALE)
    render_features(tau.read_folds(root, audio=False), feats, seed=1, frames=100, progress=False)
    return root, feats


def test_metadata_reads_back_as_a_tau_layout_with_a_grouped_hold_out(small: tuple[Path, Path]) -> None:
    root, _ = small
    assert not (root / "audio").exists()  # features only
    table = tau.split_validation(tau.read_folds(root, audio=False), method="grouped", amount=0.3, seed=0)
    counts = table["split"].value_counts().to_dict()
    assert counts["train"] + counts["val"] == expected_counts(SCALE)["train"]
    assert counts["evaluate"] == expected_counts(SCALE)["evaluate"]
    assert 0.25 < counts["val"] / (counts["train"] + counts["val"]) < 0.45
    locs = {s: set(table.loc[table["split"] == s, "location"]) for s in ("train", "val")}
    assert not locs["train"] & locs["val"]
    with pytest.raises(
        ValueError, match="fold1_train.csv lists no clip whose audio is under"
    ):  # none is there
        tau.read_folds(root)
    with pytest.raises(ValueError, match="scale of at least"):
        write_standin(root / "tiny", scale=MIN_SCALE / 2)


def test_writes_what_build_features_writes(small: tuple[Path, Path]) -> None:
    _, feats = small
    assert sorted(p.name for p in feats.iterdir()) == [
        "evaluate.csv",
        "evaluate.npy",
        "stats.npz",
        "train.csv",
        "train.npy",
    ]
    for fold in ("train", "evaluate"):
        raw = np.load(feats / f"{fold}.npy", mmap_mode="r")
        x, rows = load_split(feats, fold)
        assert raw.dtype == np.float32 and raw.shape[1:] == (40, 100) and len(rows) == len(raw) == len(x)
        assert (rows["split"] == fold).all() and len(raw) == expected_counts(SCALE)[fold]
    fold1 = np.load(feats / "train.npy").astype(np.float64)
    stats = np.load(feats / "stats.npz")
    np.testing.assert_allclose(stats["mean"], fold1.mean(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(
        stats["std"], fold1.transpose(1, 0, 2).reshape(40, -1).std(axis=1, ddof=1), rtol=1e-6
    )


def test_same_seed_same_bytes_other_seed_other_data(small: tuple[Path, Path], tmp_path: Path) -> None:
    _, feats = small
    for seed, name in ((1, "again"), (2, "other")):
        write_standin(tmp_path / name / "root", seed=seed, scale=SCALE)
        table = tau.read_folds(tmp_path / name / "root", audio=False)
        render_features(table, tmp_path / name, seed=seed, frames=100, progress=False)
    for name in ("train.npy", "evaluate.npy", "train.csv", "stats.npz"):
        assert (feats / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert (feats / "train.npy").read_bytes() != (tmp_path / "other" / "train.npy").read_bytes()


def test_classes_are_learnable_but_not_trivially(small: tuple[Path, Path]) -> None:
    root, feats = small
    split = tau.split_validation(tau.read_folds(root, audio=False), method="grouped", amount=0.3, seed=0)
    x, rows = load_split(feats, "train")
    is_val = rows["filename"].map(split.set_index("filename")["split"]).eq("val").to_numpy()
    y = np.array([SCENES.index(s) for s in rows["scene"]])
    feats_mean = x.mean(axis=2)
    centroids = np.stack([feats_mean[~is_val & (y == k)].mean(axis=0) for k in range(10)])
    pred = ((feats_mean[is_val][:, None] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert 0.25 < (pred == y[is_val]).mean() < 0.95  # chance is 0.1


def test_a_failed_render_leaves_no_bar_open(
    small: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render that raises (a full disk, a kill) closes its progress bar: an open one would go on being reported
    by the log's heartbeat (and, in one process, by every later job's)."""
    from asc.core.progress import open_bars
    from asc.data import standin

    def fail(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(standin._Voice, "render", fail)
    with pytest.raises(OSError, match="no space"):
        render_features(
            tau.read_folds(small[0], audio=False), tmp_path / "f", seed=1, frames=100, progress=False
        )
    assert open_bars() == ""
