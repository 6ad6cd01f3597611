"""Features of the three splits in memory: fold arrays from the features artifact, the hold-out from the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asc.data import tau
from asc.features import load_split


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # (N, n_mels, frames), normalised
    y: torch.Tensor  # (N,) class indices in tau.SCENES order
    rows: pd.DataFrame  # the index rows (filename, scene, city, location, device, split)

    def take(self, positions: np.ndarray | torch.Tensor) -> Split:
        idx = torch.as_tensor(positions, dtype=torch.long)
        return Split(self.x[idx], self.y[idx], self.rows.iloc[idx.numpy()].reset_index(drop=True))


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    evaluate: Split

    def pool(self, train_on: str) -> Split:
        """What training draws from: ``train`` (fold1_train minus the hold-out) or all of ``fold1_train``."""
        if train_on == "train":
            return self.train
        if train_on == "fold1_train":
            return Split(torch.cat([self.train.x, self.val.x]), torch.cat([self.train.y, self.val.y]),
                         pd.concat([self.train.rows, self.val.rows], ignore_index=True))  # fmt: skip
        raise ValueError(f"train_on={train_on!r}; valid values: train, fold1_train")

    def selection(self, select_on: str) -> Split:
        """Where the best epoch is chosen: ``val`` (honest) or ``test`` (the evaluation split, as the authors)."""
        if select_on not in ("val", "test"):
            raise ValueError(f"select_on={select_on!r}; valid values: val, test")
        return self.val if select_on == "val" else self.evaluate


def load_splits(feature_dir: Path, index_dir: Path) -> Splits:
    """Join the per-fold features with the index: a clip's split is the index's (the hold-out lives there)."""
    index = tau.load_index(index_dir).set_index("filename")
    out = {}
    for fold, splits in (("train", ("train", "val")), ("evaluate", ("evaluate",))):
        x, rows = load_split(feature_dir, fold)
        missing = ~rows["filename"].isin(index.index)
        if missing.any():
            raise ValueError(f"features in {feature_dir} hold {int(missing.sum())} clip(s) the index {index_dir} "
                             f"lacks (e.g. {rows['filename'][missing].iloc[0]}); they come from other data")  # fmt: skip
        split_of = index.loc[rows["filename"], "split"].to_numpy()
        x = torch.from_numpy(x)
        for split in splits:
            pos = np.flatnonzero(split_of == split)
            sub = rows.iloc[pos].reset_index(drop=True).assign(split=split)
            y = torch.tensor([tau.SCENES.index(s) for s in sub["scene"]], dtype=torch.long)
            out[split] = Split(x[torch.from_numpy(pos)], y, sub)
    return Splits(**out)
