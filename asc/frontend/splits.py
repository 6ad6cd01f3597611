"""Features of the three splits in memory: fold arrays from the features artifact, the hold-out from the index.

Each fold is read into ONE array with its splits' clips back to back (fold1_train: train, then val) and every
split is a view of it, so the features are held once: on the real set 1.35 GB, where a copy per split plus a
concatenated fold1_train pool held them up to three times (plus the float64 normalisation temporaries, now
bounded in asc/data/feature_arrays.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asc.data import tau
from asc.data.feature_arrays import load_array, read_rows


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # (N, n_mels, frames), normalised
    y: torch.Tensor  # (N,) class indices in tau.SCENES order; tagging: (N, classes) float 0/1 tags
    rows: pd.DataFrame  # the index rows (filename, scene, city, location, device, split)
    classes: tuple[str, ...] | None = None  # class names in y's order (None: TAU's scenes, or tag numbers)

    def take(self, positions: np.ndarray | torch.Tensor) -> Split:
        idx = torch.as_tensor(positions, dtype=torch.long)
        rows = self.rows.iloc[idx.numpy()].reset_index(drop=True)
        return Split(self.x[idx], self.y[idx], rows, self.classes)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    evaluate: Split
    fold1_train: Split  # train then val, one array: train.x and val.x are views of its x

    def pool(self, train_on: str) -> Split:
        """What training draws from: ``train`` (fold1_train minus the hold-out) or all of ``fold1_train``
        (train then val rows)."""
        if train_on == "train":
            return self.train
        if train_on == "fold1_train":
            return self.fold1_train
        raise ValueError(f"train_on={train_on!r}; valid values: train, fold1_train")

    def selection(self, select_on: str) -> Split:
        """Where the best epoch is chosen: ``val`` (honest) or ``test`` (the evaluation split, as the authors)."""
        if select_on not in ("val", "test"):
            raise ValueError(f"select_on={select_on!r}; valid values: val, test")
        return self.val if select_on == "val" else self.evaluate


def _labels(rows: pd.DataFrame, classes: int | None) -> torch.Tensor:
    """Scene numbers (N,) of TAU's rows, or (N, classes) tags of a tagging set's (``classes`` given)."""
    if classes is not None:
        from asc.data.h5_clips import targets

        return torch.from_numpy(targets(rows, classes))
    if "target" in rows:  # a set whose index numbers its own classes (ESC-50's 50)
        return torch.tensor(rows["target"].astype(int).to_numpy(), dtype=torch.long)
    return torch.tensor([tau.SCENES.index(s) for s in rows["scene"]], dtype=torch.long)


def _class_names(index: pd.DataFrame) -> tuple[str, ...] | None:
    """The class names of an index that numbers its classes (``target`` → ``scene``), else None."""
    if "target" not in index:
        return None
    pairs = dict(zip(index["target"].astype(int), index["scene"], strict=True))
    return tuple(pairs.get(k, str(k)) for k in range(max(pairs) + 1))


def load_splits(feature_dir: Path, index_dir: Path, classes: int | None = None) -> Splits:
    """Join the per-fold features with the index: a clip's split is the index's (the hold-out lives there).
    ``classes``: a multi-label set's class count (its rows' ``labels`` become (N, classes) tags)."""
    table = tau.load_index(index_dir)
    names = _class_names(table)
    index = table.set_index("filename")
    out = {}
    for fold, splits in (("train", ("train", "val")), ("evaluate", ("evaluate",))):
        rows = read_rows(feature_dir, fold)
        missing = ~rows["filename"].isin(index.index)
        if missing.any():
            raise ValueError(
                f"features in {feature_dir} hold {int(missing.sum())} clip(s) the index {index_dir} "
                f"lacks (e.g. {rows['filename'][missing].iloc[0]}); they come from other data"
            )
        split_of = index.loc[rows["filename"], "split"].to_numpy()
        positions = [np.flatnonzero(split_of == split) for split in splits]
        x = load_array(feature_dir, fold, clips=len(rows), order=np.concatenate(positions))
        x, start = torch.from_numpy(x), 0
        for split, pos in zip(splits, positions, strict=True):
            sub = rows.iloc[pos].reset_index(drop=True).assign(split=split)
            y = _labels(sub, classes)
            out[split] = Split(x[start : start + len(pos)], y, sub, names)  # a view: no copy
            start += len(pos)
        if fold == "train":
            parts = [out[split] for split in splits]
            out["fold1_train"] = Split(
                x,
                torch.cat([p.y for p in parts]),
                pd.concat([p.rows for p in parts], ignore_index=True),
                names,
            )
    return Splits(**out)
