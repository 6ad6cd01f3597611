"""The index and the waveforms of a set in PANNs' packed HDF5 layout (AudioSet as the user brings it, the generated
tagging demo): what the index, features and training stages read of it.

Index rows (one per clip): ``filename`` (``<file>/<audio_name>``: unique across the files), ``file``, ``row``
(the clip's position in its file), ``labels`` (the clip's class numbers joined by ``;``; empty for none) and
``split``: the fold of its file (``dataset.files``: the entry named ``eval`` or ``evaluate`` is the evaluation
fold, every other file the training fold). The validation hold-out is a random draw of training clips
(:func:`split_validation`: AudioSet has no recording groups to hold out together).

Waveforms: int16 scaled by 1 / 32768 (PANNs' ``int16_to_float32``), resampled when the front end's rate differs
(scipy's polyphase filter). numpy/pandas/h5py only: no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.errors import InputError

EVALUATE_FILES = ("eval", "evaluate")  # the dataset.files entries that hold the evaluation fold
VALIDATION_METHODS = ("random",)


def fold_of(entry: str) -> str:
    """The fold (train | evaluate) of the file that ``dataset.files.<entry>`` names."""
    return "evaluate" if entry in EVALUATE_FILES else "train"


def check_files(files: Mapping[str, Any]) -> None:
    """``dataset.files`` names one evaluation file and at least one training file (ConfigError otherwise)."""
    from asc.core.errors import ConfigError

    folds = [fold_of(str(k)) for k in files]
    if folds.count("evaluate") != 1 or "train" not in folds:
        raise ConfigError(
            f"dataset.files={dict(files)} must name one evaluation file (entry eval) and at least one training "
            "file (any other entry), e.g. dataset.files={balanced_train: balanced_train.h5, eval: eval.h5}"
        )


def read_index(root: Path, files: Mapping[str, Any]) -> pd.DataFrame:
    """One row per clip of every file of ``files`` (entry → file name under ``root``); see the module docstring.
    Raises InputError naming a missing file or a clip name that two rows share."""
    import h5py

    check_files(files)
    parts = []
    for entry, name in files.items():
        path = Path(root) / str(name)
        if not path.is_file():
            raise InputError(f"{path} (dataset.files.{entry}) does not exist; generate or bring it first")
        with h5py.File(path, "r") as f:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["audio_name"][:]]
            target = np.asarray(f["target"][:], dtype=bool)
        labels = [";".join(map(str, np.flatnonzero(t))) for t in target]
        parts.append(
            pd.DataFrame(
                {
                    "filename": [f"{name}/{n}" for n in names],
                    "file": str(name),
                    "row": np.arange(len(names)),
                    "labels": labels,
                    "split": fold_of(str(entry)),
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    twice = table["filename"][table["filename"].duplicated()]
    if len(twice):
        raise InputError(
            f"{root}: the clip {twice.iloc[0]} is listed twice; give each clip its own audio_name"
        )
    return table


def split_validation(table: pd.DataFrame, *, amount: float, seed: int) -> pd.DataFrame:
    """Mark ``round(amount × training clips)`` training clips ``val``: a draw with ``seed`` over the clips sorted
    by name, so the hold-out depends on the set of clips, not on the files' order."""
    out = table.copy()
    train = np.flatnonzero((out["split"] == "train").to_numpy())
    train = train[np.argsort(out["filename"].to_numpy()[train], kind="stable")]
    picked = np.random.default_rng(seed).permutation(train)[: int(round(amount * len(train)))]
    out.loc[out.index[picked], "split"] = "val"
    return out


def targets(rows: pd.DataFrame, classes: int) -> np.ndarray:
    """(N, classes) float32 0/1 tags of index ``rows`` (their ``labels`` column)."""
    y = np.zeros((len(rows), classes), dtype=np.float32)
    for i, labels in enumerate(rows["labels"].astype(str)):
        if labels:
            y[i, [int(k) for k in labels.split(";")]] = 1.0
    return y


def waveforms(
    root: Path, rows: pd.DataFrame, *, sample_rate: int, target_rate: int, clip_seconds: float
) -> Iterator[np.ndarray]:
    """The clips of ``rows`` in order: float32 (samples,) at ``target_rate`` (int16 / 32768, resampled from the
    files' ``sample_rate`` by scipy.signal.resample_poly when they differ). Raises InputError for a clip whose
    length is not ``clip_seconds`` at ``target_rate`` after resampling."""
    import h5py
    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), int(target_rate))
    up, down = int(target_rate) // g, int(sample_rate) // g
    expected = round(clip_seconds * target_rate)
    handles: dict[str, Any] = {}
    try:
        for file, row in zip(rows["file"], rows["row"], strict=True):
            if file not in handles:
                handles[file] = h5py.File(Path(root) / file, "r")
            y = handles[file]["waveform"][int(row)].astype(np.float32) / 32768.0
            if up != down:
                y = resample_poly(y, up, down).astype(np.float32)
            if y.size != expected:
                raise InputError(
                    f"{Path(root) / file} clip {row} has {y.size} samples at {target_rate} Hz, expected {expected} "
                    f"(dataset.clip_seconds={clip_seconds:g})"
                )
            yield y
    finally:
        for h in handles.values():
            h.close()
