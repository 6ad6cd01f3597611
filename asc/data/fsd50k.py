"""FSD50K (Fonseca et al. 2022; Zenodo record 4060432): 51,197 Freesound clips, 200 classes of the AudioSet
ontology, multi-label. ``FSD50K.ground_truth/``: ``vocabulary.csv`` (index, label, mid; no header), ``dev.csv``
(fname, labels, mids, split ∈ train | val) and ``eval.csv`` (fname, labels, mids); audio in
``FSD50K.dev_audio/`` and ``FSD50K.eval_audio/`` (44.1 kHz mono, 0.3-30 s). The official split: train (36,796),
val (4,170), eval (10,231). The task is tagging (asc.data.tasks): targets are (N, 200) 0/1.

Through the pipeline (asc.data.layouts): index rows ``filename`` (``FSD50K.dev_audio/<fname>.wav``), ``labels``
(class numbers in vocabulary.csv's order joined by ``;``, as asc/data/h5_clips.py's) and ``split`` (train, val
from dev.csv's own split: ``dataset.validation.method=official``; evaluate: eval.csv). Each clip is read at
44.1 kHz, resampled to the front end's rate, and cut to ``dataset.clip_seconds`` or brought up to it
(``dataset.fit``: ``pad`` with silence, or ``repeat`` the clip), both keyed.

The audio is published as split zips (``FSD50K.dev_audio.z01``-``z05`` + ``.zip``, ``FSD50K.eval_audio.z01``
+ ``.zip``): ``dataset.download=true`` fetches every part (resumed, size + MD5 checked, each on its own) and reads
the members in place across the parts (asc.data.split_zip, asc.data.archive_sets); or bring the folder
(``dataset.download=false``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.errors import ConfigError, InputError

GROUND_TRUTH = "FSD50K.ground_truth"
AUDIO = {"dev": "FSD50K.dev_audio", "eval": "FSD50K.eval_audio"}
CLASSES = 200
EXPECTED = {"train": 36796, "val": 4170, "eval": 10231}
SAMPLE_RATE = 44100
FITS = ("pad", "repeat")  # dataset.fit: how a clip shorter than dataset.clip_seconds is brought up to it


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


def check_config(d: Mapping[str, Any]) -> None:
    """``dataset.fit`` (pad | repeat; ConfigError, one line). A download's archives and their parts are checked
    as every archive set's are (asc.data.archive_sets.check_download)."""
    if d.get("fit") not in FITS:
        raise ConfigError(f"dataset.fit={d.get('fit')!r}; choose one of {', '.join(FITS)}")


def read_index(root: str | Path, *, expect_full: bool = True) -> pd.DataFrame:
    """The pipeline's index rows of the set at ``root`` (see the module docstring), the official split."""
    root = Path(root)
    vocabulary = read_vocabulary(root)
    column = {label: k for k, label in enumerate(vocabulary)}
    parts = []
    for split, table in read_split(root, expect_full=expect_full).items():
        folder = AUDIO["eval" if split == "eval" else "dev"]
        parts.append(
            pd.DataFrame(
                {
                    "filename": [f"{folder}/{f}.wav" for f in table["fname"]],
                    "labels": [";".join(str(column[x]) for x in labs.split(",")) for labs in table["labels"]],
                    "split": "evaluate" if split == "eval" else split,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def fit(y: np.ndarray, samples: int, how: str) -> np.ndarray:
    """``y`` (samples,) cut to its first ``samples``, or brought up to them: zeros after it (``pad``) or the clip
    again and again (``repeat``)."""
    if y.size >= samples:
        return y[:samples]
    if how == "repeat" and y.size:
        return np.tile(y, -(-samples // y.size))[:samples]
    return np.concatenate([y, np.zeros(samples - y.size, dtype=y.dtype)])


def waveforms(
    root: Path, rows: pd.DataFrame, *, target_rate: int, clip_seconds: float, how: str
) -> Iterator[np.ndarray]:
    """The clips of ``rows`` in order: float32 (round(clip_seconds × target_rate),) — each WAV read (channels
    averaged), resampled from its rate by scipy.signal.resample_poly when it differs, then :func:`fit`.
    Raises InputError naming a clip soundfile cannot read."""
    import soundfile as sf
    from scipy.signal import resample_poly

    samples = round(clip_seconds * target_rate)
    for name in rows["filename"]:
        path = Path(root) / name
        try:
            y, rate = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise InputError(f"{path} cannot be read as audio ({err}); replace it from FSD50K") from None
        y = y.mean(axis=1)
        if rate != target_rate:
            g = gcd(int(rate), int(target_rate))
            y = resample_poly(y, int(target_rate) // g, int(rate) // g).astype(np.float32)
        yield fit(y, samples, how)
