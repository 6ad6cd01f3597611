"""AudioSet as the user brings it, in PANNs' packed HDF5 layout (``audioset_tagging_cnn/utils/dataset.py``):
per file, ``audio_name`` (N,) bytes, ``waveform`` (N, clip_samples) int16 at 32 kHz and ``target`` (N, 527) bool.
AudioSet has no download (YouTube ids only); asc checks the folder at planning — every ``*.h5`` has the three
datasets with matching lengths, int16 waveforms of 10 s at the configured rate and 527 boolean targets — and
refuses it in one line naming the file and what differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asc.core.errors import InputError

CLASSES = 527
SAMPLE_RATE = 32000
CLIP_SECONDS = 10
DATASETS = ("audio_name", "waveform", "target")


def check_file(
    path: Path, *, sample_rate: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS, classes: int = CLASSES
) -> int:
    """Check one packed HDF5 file; return its clip count. Raises InputError (one line) on a missing dataset,
    another dtype or shape (the waveform length says the sample rate: ``sample_rate`` × ``seconds``)."""
    import h5py
    import numpy as np

    samples = int(round(sample_rate * seconds))
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path} is not an HDF5 file ({err}); bring PANNs' packed waveforms") from None
    with f:
        lacking = [d for d in DATASETS if d not in f]
        if lacking:
            raise InputError(
                f"{path} lacks the dataset(s) {', '.join(lacking)} of PANNs' layout ({', '.join(DATASETS)})"
            )
        n = len(f["audio_name"])
        wave, target = f["waveform"], f["target"]
        if wave.dtype != np.int16 or wave.ndim != 2:
            raise InputError(
                f"{path}: waveform is {wave.dtype} {wave.shape}; PANNs' layout is int16 (N, {samples})"
            )
        if wave.shape[1] != samples:
            found = wave.shape[1] / seconds
            raise InputError(
                f"{path}: waveform has {wave.shape[1]} samples per clip ({found:g} Hz for {seconds:g} s); "
                f"dataset.sample_rate={sample_rate} needs {samples}"
            )
        if target.dtype != np.bool_ or target.shape[1:] != (classes,):
            raise InputError(
                f"{path}: target is {target.dtype} {target.shape}; PANNs' layout is bool (N, {classes})"
            )
        if not (wave.shape[0] == target.shape[0] == n):
            raise InputError(
                f"{path}: audio_name, waveform and target hold {n}, {wave.shape[0]} and {target.shape[0]} clips"
            )
    return n


def check_folder(d: Mapping[str, Any]) -> dict[str, int]:
    """Planning: ``dataset.root`` holds the files ``dataset.files`` names (e.g. balanced_train.h5, eval.h5),
    each valid (:func:`check_file`). Returns file → clip count."""
    root = Path(d["root"])
    out = {}
    for split, name in dict(d["files"]).items():
        path = root / str(name)
        if not path.is_file():
            raise InputError(
                f"dataset.root={root} lacks {name} (dataset.files.{split}); AudioSet is not downloaded: "
                "pack it with PANNs' pack_waveforms_to_hdf5.py and point dataset.root there"
            )
        out[str(name)] = check_file(
            path,
            sample_rate=int(d["sample_rate"]),
            seconds=float(d["clip_seconds"]),
            classes=int(d["classes"]),
        )
    return out
