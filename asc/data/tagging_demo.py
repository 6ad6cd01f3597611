"""A synthetic multi-label tagging set, written in PANNs' packed HDF5 layout (asc/data/audioset_hdf5.py) so it
stands in for AudioSet anywhere: ``train.h5`` and ``eval.h5`` with ``audio_name``, ``waveform`` int16 and
``target`` bool (N, classes), plus ``classes.csv``.

Every class has its own sound: a harmonic tone, a band of noise or a chirp at a centre frequency of its own
(log-spaced over the band), with its own amplitude modulation. A clip holds 1 to ``max_events`` events that
overlap in time, over background noise. Class frequencies follow a long tail (Zipf: class k is drawn with
weight 1 / (k + 1) ** ``tail``), as AudioSet's do. Deterministic from ``seed``; each clip has its own generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("tone", "noise", "chirp")


def class_weights(classes: int, tail: float) -> np.ndarray:
    """Zipf weights (classes,), summing to 1: the long tail of the label distribution."""
    w = 1.0 / np.arange(1, classes + 1) ** tail
    return w / w.sum()


def draw_targets(rng: np.random.Generator, classes: int, tail: float, max_events: int) -> np.ndarray:
    """(classes,) bool: one clip's 1..max_events distinct classes drawn from :func:`class_weights`."""
    out = np.zeros(classes, dtype=bool)
    k = rng.integers(1, max_events + 1)
    out[rng.choice(classes, size=k, replace=False, p=class_weights(classes, tail))] = True
    return out


def _event(rng: np.random.Generator, k: int, cfg: Mapping[str, Any], length: int) -> np.ndarray:
    sr, classes = int(cfg["sample_rate"]), int(cfg["classes"])
    t = np.arange(length) / sr
    f0 = 150.0 * (0.8 * sr / 2 / 150.0) ** (k / max(classes - 1, 1)) * (1 + 0.02 * rng.standard_normal())
    kind = KINDS[k % len(KINDS)]
    if kind == "tone":
        x = sum(
            np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
            for h in (1, 2, 3)
            if f0 * h < sr / 2
        )
    elif kind == "noise":
        spec = np.fft.rfft(rng.standard_normal(length))
        freqs = np.fft.rfftfreq(length, 1 / sr)
        spec *= np.exp(-0.5 * ((freqs - f0) / (0.15 * f0)) ** 2)
        x = np.fft.irfft(spec, length)
        x /= np.abs(x).max() + 1e-9
    else:
        x = np.sin(2 * np.pi * f0 * t * (1 + 0.5 * t / t[-1]))
    rate = 2.0 + (k * 7919 % 13)  # each class its own amplitude modulation (Hz)
    return x * (0.6 + 0.4 * np.sin(2 * np.pi * rate * t)) * np.hanning(length)


def render(rng: np.random.Generator, labels: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """One clip (samples,) int16: the events of ``labels`` (classes,) at random onsets, overlapping, over noise."""
    n = int(round(float(cfg["clip_seconds"]) * int(cfg["sample_rate"])))
    clip = float(cfg["noise"]) * rng.standard_normal(n)
    for k in np.flatnonzero(labels):
        length = int(n * rng.uniform(0.3, 0.8))
        start = rng.integers(0, n - length + 1)
        clip[start : start + length] += rng.uniform(0.5, 1.0) * _event(rng, int(k), cfg, length)
    clip /= max(1.0, np.abs(clip).max() / 0.9)
    return np.round(clip * 32767).astype(np.int16)


def generate(cfg: Mapping[str, Any], folder: str | Path) -> dict[str, Any]:
    """Write train.h5, eval.h5 and classes.csv into ``folder``; returns counts and per-class positives."""
    import h5py

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = int(cfg["classes"])
    info: dict[str, Any] = {}
    for s, split in enumerate(("train", "eval")):
        n = int(cfg[f"{split}_clips"])
        # Each clip its own generator (seed, split, clip): a clip is the same whatever the set's size.
        rngs = [np.random.default_rng([int(cfg["seed"]), s, i]) for i in range(n)]
        targets = np.stack(
            [draw_targets(r, classes, float(cfg["tail"]), int(cfg["max_events"])) for r in rngs]
        )
        waves = np.stack([render(r, targets[i], cfg) for i, r in enumerate(rngs)])
        with h5py.File(folder / f"{split}.h5", "w") as f:
            f.create_dataset(
                "audio_name", data=np.array([f"{split}_{i:05d}.wav".encode() for i in range(n)], dtype="S20")
            )
            f.create_dataset("waveform", data=waves)
            f.create_dataset("target", data=targets)
        info[split] = {"clips": n, "positives": targets.sum(0).tolist()}
    (folder / "classes.csv").write_text(
        "index,label\n" + "".join(f"{k},class_{k:02d}\n" for k in range(classes))
    )
    return info
