"""Decoding one clip for the front end, checked: readable, finite, mono, the configured rate (or resampled) and
length; anything else is an :class:`AudioError` naming the file. :func:`decoded` runs the decoding in threads a
bounded number of clips ahead of the STFT (libsndfile releases the GIL), so the two overlap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf


class AudioFormat(Protocol):
    """What decoding needs of a front end (asc.frontend.frontend_options.FrontEnd has it): the rate, whether other rates are
    resampled to it, and the sample type."""

    sample_rate: int
    resample: bool
    dtype: str


class AudioError(ValueError):
    """A clip that cannot become a feature matrix (unreadable, non-finite, wrong rate, channels or length)."""


def load_audio(path: str | Path, frontend: AudioFormat, clip_seconds: float) -> np.ndarray:
    """Mono waveform (float32, or float64 for a float64 front end) of exactly clip_seconds·sample_rate samples.

    Every clip is checked here (the decode happens anyway): readable, finite, one channel, the configured rate
    (or resampled if ``frontend.resample``) and length; anything else is an AudioError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist; re-download or regenerate the dataset")
    # float32 holds 24-bit PCM exactly, and halves the decoding work when the STFT runs in float32 anyway.
    try:
        y, sr = sf.read(str(path), dtype=frontend.dtype, always_2d=True)
    except Exception as err:  # soundfile raises several types for broken files
        raise AudioError(f"cannot decode {path}: {err}; the file is corrupt, re-download it") from err
    if y.shape[1] != 1:
        # The dataset is mono; averaging channels would silently make features of a different recording.
        raise AudioError(
            f"{path} has {y.shape[1]} channels, expected 1 (mono); it is not a clip of this dataset"
        )
    y = y[:, 0]
    # Only float WAVs can hold NaN/inf; a single one would make every band's statistics NaN.
    if not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).sum())
        raise AudioError(
            f"{path} holds {bad} non-finite sample(s) (NaN/inf), expected finite audio; "
            "the file is corrupt, re-download or regenerate it"
        )
    if sr != frontend.sample_rate:
        if not frontend.resample:
            raise AudioError(
                f"{path} is {sr} Hz but features.sample_rate is {frontend.sample_rate}; "
                "set features.resample=true to resample it (the official baseline does)"
            )
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=frontend.sample_rate)
    expected = round(clip_seconds * frontend.sample_rate)
    if y.size != expected:
        raise AudioError(
            f"{path} has {y.size} samples, expected {expected} ({clip_seconds} s at {frontend.sample_rate} Hz); "
            "the file is truncated or not a clip of this dataset — re-download it"
        )
    return y


def decoded(
    paths: Sequence[Path], frontend: AudioFormat, clip_seconds: float, ahead: int, workers: int
) -> Iterator[np.ndarray]:
    """Decode in threads, in order, at most ``ahead`` clips in flight (libsndfile releases the GIL)."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        queue: deque = deque()
        for path in paths:
            queue.append(pool.submit(load_audio, path, frontend, clip_seconds))
            if len(queue) >= ahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
