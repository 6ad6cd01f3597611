"""asc/frontend/splits.py: each fold held once, its splits views of it, with the values and rows the copies had."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from feature_fixtures import one_expression, same_bits, write_split

from asc.data import tau
from asc.frontend.splits import load_splits


def make_store(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray], pd.DataFrame]:
    """Features per fold (train: 12 clips, val ones interleaved; evaluate: 5) and an index marking the hold-out."""
    rng = np.random.default_rng(0)
    feats, index_dir = tmp_path / "features", tmp_path / "index"
    index_dir.mkdir()
    folds = {
        "train": rng.normal(-5, 3, (12, 4, 6)).astype(np.float32),
        "evaluate": rng.normal(-5, 3, (5, 4, 6)).astype(np.float32),
    }
    mean, std = rng.normal(-5, 0.1, 4), rng.uniform(2.5, 3.5, 4)
    records = []
    for fold, x in folds.items():
        names = [f"audio/{fold}{i}.wav" for i in range(len(x))]
        scenes = [tau.SCENES[i % len(tau.SCENES)] for i in range(len(x))]
        split = ["val" if fold == "train" and i % 3 == 1 else fold for i in range(len(x))]
        rows = pd.DataFrame({"filename": names, "scene": scenes, "device": "a", "split": fold})
        write_split(feats, fold, x, mean, std)
        rows.to_csv(feats / f"{fold}.csv", index=False)  # the features' rows carry the fold as split
        records.append(rows.assign(split=split))
    index = pd.concat(records, ignore_index=True)
    tau.save_index(index, index_dir)
    normed = {fold: one_expression(x, mean, std) for fold, x in folds.items()}
    return feats, index_dir, normed, index


def test_splits_hold_the_rows_and_values_the_copies_held(tmp_path: Path) -> None:
    feats, index_dir, normed, index = make_store(tmp_path)
    splits = load_splits(feats, index_dir)
    for name, split, fold in (
        ("train", splits.train, "train"),
        ("val", splits.val, "train"),
        ("evaluate", splits.evaluate, "evaluate"),
    ):
        in_fold = index[index["filename"].str.startswith(f"audio/{fold}")].reset_index(drop=True)
        pos = np.flatnonzero(in_fold["split"] == name)  # what load_splits took out of the fold before
        assert same_bits(split.x.numpy(), normed[fold][pos])
        assert split.rows["filename"].tolist() == in_fold["filename"].iloc[pos].tolist()
        assert (split.rows["split"] == name).all()
        assert split.y.tolist() == [tau.SCENES.index(s) for s in in_fold["scene"].iloc[pos]]
    assert len(splits.train.y) == 8 and len(splits.val.y) == 4


def test_fold1_train_pool_is_train_then_val_without_a_copy(tmp_path: Path) -> None:
    feats, index_dir, _, _ = make_store(tmp_path)
    splits = load_splits(feats, index_dir)
    pool = splits.pool("fold1_train")
    # What Splits.pool returned when it concatenated the two splits.
    assert torch.equal(pool.x, torch.cat([splits.train.x, splits.val.x]))
    assert torch.equal(pool.y, torch.cat([splits.train.y, splits.val.y]))
    pd.testing.assert_frame_equal(
        pool.rows, pd.concat([splits.train.rows, splits.val.rows], ignore_index=True)
    )
    # One buffer: train and val are views of the pool's array, back to back.
    base = pool.x.untyped_storage().data_ptr()
    assert splits.train.x.untyped_storage().data_ptr() == base == splits.val.x.untyped_storage().data_ptr()
    assert splits.train.x.data_ptr() == pool.x.data_ptr()
    assert splits.val.x.data_ptr() == pool.x[len(splits.train.y) :].data_ptr()
    assert splits.pool("train") is splits.train
