"""FSD50K (Fonseca et al. 2022; Zenodo record 4060432): 51,197 Freesound clips, 200 classes of the AudioSet
ontology, multi-label. ``FSD50K.ground_truth/``: ``vocabulary.csv`` (index, label, mid; no header), ``dev.csv``
(fname, labels, mids, split ∈ train | val) and ``eval.csv`` (fname, labels, mids); audio in
``FSD50K.dev_audio/`` and ``FSD50K.eval_audio/`` (44.1 kHz mono, 0.3-30 s). The official split: train (36,796),
val (4,170), eval (10,231). The task is tagging (asc.tasks): targets are (N, 200) 0/1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asc.errors import InputError

GROUND_TRUTH = "FSD50K.ground_truth"
AUDIO = {"dev": "FSD50K.dev_audio", "eval": "FSD50K.eval_audio"}
CLASSES = 200
EXPECTED = {"train": 36796, "val": 4170, "eval": 10231}


def read_vocabulary(root: Path) -> list[str]:
    """The 200 class labels in index order (vocabulary.csv). InputError when missing or not 200 rows."""
    path = root / GROUND_TRUTH / "vocabulary.csv"
    if not path.is_file():
        raise InputError(
            f"{path} is missing: dataset.root must hold FSD50K.ground_truth/ and the audio folders"
        )
    vocab = pd.read_csv(path, header=None, names=["index", "label", "mid"])
    if len(vocab) != CLASSES or list(vocab["index"]) != list(range(CLASSES)):
        raise InputError(
            f"{path} has {len(vocab)} classes indexed {vocab['index'].min()}-{vocab['index'].max()}; FSD50K has 0-199"
        )
    return list(vocab["label"])


def read_split(root: str | Path, *, expect_full: bool = True) -> dict[str, pd.DataFrame]:
    """train, val and eval clip tables (fname, labels, path) with labels checked against the vocabulary and
    every clip's audio present; with ``expect_full`` the published counts. InputError naming the file."""
    root = Path(root)
    classes = set(read_vocabulary(root))
    out = {}
    for name in ("dev", "eval"):
        path = root / GROUND_TRUTH / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"{path} is missing (FSD50K's ground truth)")
        table = pd.read_csv(path, dtype={"fname": str})
        unknown = sorted({lab for labs in table["labels"] for lab in labs.split(",")} - classes)
        if unknown:
            raise InputError(f"{path}: label {unknown[0]!r} is not in vocabulary.csv")
        table["path"] = [str(root / AUDIO[name] / f"{f}.wav") for f in table["fname"]]
        missing = [p for p in table["path"] if not Path(p).is_file()]
        if missing:
            raise InputError(
                f"{root / AUDIO[name]} lacks {len(missing)} clip(s) that {path.name} lists, e.g. {Path(missing[0]).name}"
            )
        if name == "dev":
            bad = sorted(set(table["split"]) - {"train", "val"})
            if bad:
                raise InputError(f"{path}: split {bad[0]!r} is neither train nor val")
            out["train"], out["val"] = (
                table[table["split"] == s].drop(columns="split") for s in ("train", "val")
            )
        else:
            out["eval"] = table
    if expect_full:
        for split, n in EXPECTED.items():
            if len(out[split]) != n:
                raise InputError(
                    f"FSD50K {split} has {len(out[split])} clips in {root}; the published set has {n}"
                )
    return out


def targets(table: pd.DataFrame, vocabulary: list[str]) -> np.ndarray:
    """(N, 200) bool: clip i carries class k (the comma-separated ``labels`` of the ground truth)."""
    column = {label: k for k, label in enumerate(vocabulary)}
    out = np.zeros((len(table), len(vocabulary)), dtype=bool)
    for i, labels in enumerate(table["labels"]):
        out[i, [column[lab] for lab in labels.split(",")]] = True
    return out
