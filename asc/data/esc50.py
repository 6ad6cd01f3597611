"""ESC-50 (Piczak 2015): 2,000 five-second clips, 50 classes of 40 clips, in 5 folds of 400 — the layout of the
published archive (``meta/esc50.csv``: filename, fold, target, category, esc10, src_file, take; ``audio/*.wav``,
44.1 kHz mono). The fold held out for testing is ``dataset.fold`` (1-5); 5-fold cross-validation runs every fold.

The declarations of this set live here (counts, sample rate, the metadata file); the index and its integrity
checks raise :class:`~asc.core.errors.InputError` in one line naming the file and what differs, before any training.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from asc.core.errors import ConfigError, InputError

METADATA = "meta/esc50.csv"
AUDIO = "audio"
CLIPS, CLASSES, FOLDS = 2000, 50, 5
SAMPLE_RATE, CLIP_SECONDS = 44100, 5.0
COLUMNS = ("filename", "fold", "target", "category")


def read_index(root: str | Path, *, expect_full: bool = True) -> pd.DataFrame:
    """The clip list (filename, fold, target, category) of ``root``, checked: the columns, folds 1-5, targets
    0-49 with one category each, every listed WAV present; with ``expect_full`` also 2,000 clips, 40 per class
    and 400 per fold (the published set). Raises InputError naming the file and the first difference."""
    root = Path(root)
    path = root / METADATA
    if not path.is_file():
        raise InputError(f"{path} is missing: dataset.root must hold ESC-50's meta/esc50.csv and audio/")
    index = pd.read_csv(path)
    lacking = [c for c in COLUMNS if c not in index.columns]
    if lacking:
        raise InputError(f"{path} lacks the column(s) {', '.join(lacking)}; is it ESC-50's esc50.csv?")
    bad_fold = index.loc[~index["fold"].isin(range(1, FOLDS + 1)), "fold"]
    if len(bad_fold):
        raise InputError(f"{path}: fold {bad_fold.iloc[0]} is not 1-{FOLDS}")
    bad_target = index.loc[~index["target"].isin(range(CLASSES)), "target"]
    if len(bad_target):
        raise InputError(f"{path}: target {bad_target.iloc[0]} is not 0-{CLASSES - 1}")
    names = index.groupby("target")["category"].nunique()
    if (names > 1).any():
        raise InputError(f"{path}: target {names[names > 1].index[0]} has several categories")
    missing = [f for f in index["filename"] if not (root / AUDIO / f).is_file()]
    if missing:
        raise InputError(
            f"{root / AUDIO} lacks {len(missing)} clip(s) that {METADATA} lists, e.g. {missing[0]}"
        )
    if expect_full:
        per_class, per_fold = index["target"].value_counts(), index["fold"].value_counts()
        if len(index) != CLIPS or per_class.nunique() != 1 or per_fold.nunique() != 1:
            raise InputError(
                f"{path} lists {len(index)} clips ({per_class.min()}-{per_class.max()} per class, "
                f"{per_fold.min()}-{per_fold.max()} per fold); ESC-50 has {CLIPS}, 40 per class, 400 per fold"
            )
    return index


def check_fold(fold: object) -> int:
    """``dataset.fold``: the test fold, 1-5 (ConfigError otherwise)."""
    if isinstance(fold, bool) or not isinstance(fold, int) or not 1 <= fold <= FOLDS:
        raise ConfigError(f"dataset.fold={fold!r} is not an ESC-50 fold; choose 1-{FOLDS}")
    return fold


def fold_split(index: pd.DataFrame, fold: int) -> dict[str, pd.DataFrame]:
    """Train (the four other folds) and test (``fold``) clips, as ESC-50's 5-fold cross-validation does."""
    fold = check_fold(fold)
    return {"train": index[index["fold"] != fold], "test": index[index["fold"] == fold]}


def pipeline_index(root: str | Path, fold: int) -> pd.DataFrame:
    """The pipeline's index rows: filename (``audio/<file>``), scene (the category), target (its class number),
    fold, device (``-``: ESC-50 names none) and split: ``evaluate`` for the test fold ``dataset.fold``, ``train``
    for the four others (the hold-out is drawn from them: asc/data/h5_clips.split_validation)."""
    index = read_index(root)
    return pd.DataFrame(
        {
            "filename": [f"{AUDIO}/{f}" for f in index["filename"]],
            "scene": index["category"],
            "target": index["target"],
            "fold": index["fold"],
            "device": "-",
            "split": ["evaluate" if f == check_fold(fold) else "train" for f in index["fold"]],
        }
    )
