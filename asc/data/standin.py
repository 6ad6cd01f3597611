"""The TAU-sized stand-in: time the paper's full grid without the 27 GB download (``dataset=standin``).

A features-only dataset in two steps of the chain. The dataset stage writes the real set's metadata layout
without audio (meta.csv, evaluation_setup/fold1_*.csv: :func:`write_standin`) at the real sizes — 13,962
fold1_train and 2,968 fold1_evaluate clips, ``scale`` shrinks both — so the index stage draws its validation
hold-out from it as from TAU. The features stage then renders, instead of decoding WAVs, exactly the files
:func:`asc.frontend.features.build_features` writes (:func:`render_features`): one float32 array (N, n_mels, frames) per
fold (train.npy, evaluate.npy), its index rows (train.csv, evaluate.csv) and stats.npz (per-band mean and std
over fold1_train, the same formula over ``frames`` frames: a stand-in has no 501st frame to include).

The features are log-mel-like with class structure a CNN can learn but not perfectly: each scene has a spectral
envelope and a temporal modulation, each recording location jitters the envelope about as much as scenes differ
(so the location-grouped validation split is harder than a random one), each device has a frequency response
(s4–s6 only in evaluation, as in TAU), plus per-element noise. Not calibrated to the real accuracies: a
nearest-centroid classifier on per-band means scores well above chance and well below 100 % (tests/test_standin.py).
Everything comes from ``numpy.random.default_rng([seed, ...])`` keyed by fold and chunk number, so a seed gives
identical bytes. Below a scale of ~0.1 fewer locations per scene and city are filled, and the validation share
drifts up towards 50 %.

The TAU 2022 variant (``pieces: 10``, conf/dataset/standin1s.yaml) lists every recording as its ten 1-s pieces,
named as TAU 2022 names them (139,620 / 29,680 clips at scale 1), renders them at the front end's frame count
(51 for 1 s) and writes split files in the DCASE 2024 format (asc/data/tau2022.py :func:`write_splits`).
``scale`` counts recordings in both variants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_path, atomic_write_text
from asc.core.checks import require_finite
from asc.core.errors import ConfigError
from asc.core.progress import progress_bar, show_progress
from asc.data.feature_arrays import write_npy
from asc.data.tau import SCENES, write_metadata
from asc.data.tau2022 import PIECES, piece_name, write_splits

CITIES = [
    "barcelona",
    "helsinki",
    "lisbon",
    "london",
    "lyon",
    "milan",
    "paris",
    "prague",
    "stockholm",
    "vienna",
]
TRAIN_DEVICES = {
    "a": 0.73,
    "b": 0.054,
    "c": 0.054,
    "s1": 0.054,
    "s2": 0.054,
    "s3": 0.054,
}  # TAU's proportions
EVAL_DEVICES = ["a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6"]  # equal shares, s4–s6 unseen in training
TRAIN_LOCATIONS, EVAL_LOCATIONS = 10, 2  # per scene and city; 3 of 10 go to validation: 30 %
# The smallest scale at which every scene and city keeps two training locations (one to hold out).
MIN_SCALE = 2 * len(SCENES) * len(CITIES) / 13962
CHUNK = 256  # clips generated at once (~20 MB of float32): fixed, so the bytes do not depend on memory


def expected_counts(scale: float = 1.0, pieces: int = 1) -> dict[str, int]:
    """fold1 clip counts at this scale: the real set's (13,962 / 2,968 recordings) times ``scale``, each
    listed as ``pieces`` clips."""
    return {
        "train": pieces * max(1, round(13962 * scale)),
        "evaluate": pieces * max(1, round(2968 * scale)),
    }


def _shuffled_shares(shares: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """n names in proportion to ``shares`` (largest remainder rounding), in random order."""
    p = np.array(list(shares.values())) / sum(shares.values())
    counts = np.floor(n * p).astype(int)
    counts[np.argsort(-(n * p - counts), kind="stable")[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.array(list(shares)), counts))


def plan_standin(
    n_train: int = 13962, n_evaluate: int = 2968, seed: int = 0, pieces: int = 1
) -> pd.DataFrame:
    """The clip table (filename, scene, city, location, device, split = the fold: train | evaluate) of
    ``n_train`` / ``n_evaluate`` recordings, each as ``pieces`` 1-s clips when ``pieces`` > 1."""
    rng = np.random.default_rng([seed, 0])
    parts = []
    for fold, n, n_loc in (("train", n_train, TRAIN_LOCATIONS), ("evaluate", n_evaluate, EVAL_LOCATIONS)):
        i = np.arange(n)
        scene = i % len(SCENES)  # round robin: classes balanced to ±1 clip, like TAU
        city = (i // len(SCENES)) % len(CITIES)
        loc = (i // (len(SCENES) * len(CITIES))) % n_loc + (0 if fold == "train" else TRAIN_LOCATIONS)
        loc += scene * (TRAIN_LOCATIONS + EVAL_LOCATIONS)  # TAU location ids are unique per scene and city
        if fold == "train":
            device = np.empty(n, dtype=object)
            for k in range(len(SCENES)):  # exact shares per scene, so every (scene, device) stratum is filled
                device[scene == k] = _shuffled_shares(TRAIN_DEVICES, int((scene == k).sum()), rng)
        else:
            device = np.array(EVAL_DEVICES)[rng.permutation(i % len(EVAL_DEVICES))]
        rows = pd.DataFrame(
            {
                "scene": np.array(SCENES)[scene],
                "city": np.array(CITIES)[city],
                "location": [f"{CITIES[c]}-{k}" for c, k in zip(city, loc, strict=True)],
                "device": device,
                "split": fold,
            }
        )
        rows.insert(
            0,
            "filename",
            [f"audio/{r.scene}-{r.location}-{j}-{r.device}.wav" for j, r in enumerate(rows.itertuples())],
        )
        parts.append(rows)
    table = pd.concat(parts, ignore_index=True)
    if pieces == 1:
        return table
    out = table.loc[table.index.repeat(pieces)].reset_index(drop=True)
    out["filename"] = [
        piece_name(f, k) for f, k in zip(out["filename"], np.tile(np.arange(pieces), len(table)), strict=True)
    ]
    return out


class _Voice:
    """The fixed per-scene, per-location and per-device parameters of one seed."""

    def __init__(self, table: pd.DataFrame, seed: int, n_mels: int):
        rng = np.random.default_rng([seed, 1])
        band = np.linspace(0, 1, n_mels)
        self.level = -4.0 - 3.0 * band  # log-mel energies fall with frequency
        self.scene = {s: np.cumsum(rng.normal(0, 0.06, n_mels)) for s in SCENES}  # smooth envelopes
        self.locations = {loc: rng.normal(0, 0.35, n_mels) for loc in sorted(set(table["location"]))}
        self.devices = {d: np.cumsum(rng.normal(0, 0.08, n_mels)) * (d != "a") for d in EVAL_DEVICES}
        self.rate = {s: 2 + 3 * k for k, s in enumerate(SCENES)}  # modulation periods per 500 frames
        self.band_weight = {s: np.exp(-((band - rng.uniform()) ** 2) / 0.02) for s in SCENES}

    def render(self, rows: pd.DataFrame, frames: int, rng: np.random.Generator) -> np.ndarray:
        n_mels = len(self.level)
        env = np.stack(
            [
                self.level + self.scene[s] + self.locations[loc] + self.devices[d]
                for s, loc, d in zip(rows["scene"], rows["location"], rows["device"], strict=True)
            ]
        )
        t = np.arange(frames) / frames
        phase = rng.uniform(0, 2 * np.pi, (len(rows), 1))
        mod = np.sin(2 * np.pi * np.array([self.rate[s] for s in rows["scene"]])[:, None] * t + phase)
        weight = np.stack([self.band_weight[s] for s in rows["scene"]])
        x = rng.standard_normal((len(rows), n_mels, frames), dtype=np.float32)
        x += (env[:, :, None] + 0.8 * weight[:, :, None] * mod[:, None, :]).astype(np.float32)
        return x


def write_standin(root: str | Path, *, seed: int = 0, scale: float = 1.0, pieces: int = 1) -> dict[str, Any]:
    """The dataset stage: the TAU metadata layout of the stand-in's clips in ``root`` (no audio); with
    ``pieces`` > 1 the TAU 2022 naming and split files under ``root/split_setup``."""
    if pieces not in (1, PIECES):
        raise ConfigError(
            f"dataset.pieces={pieces}: 1 (TAU 2020, 10-s clips) or {PIECES} (TAU 2022, 1-s clips)"
        )
    counts = expected_counts(scale)
    if counts["train"] < 2 * len(SCENES) * len(CITIES):
        raise ValueError(
            f"dataset.scale={scale} leaves {counts['train']} fold1_train clips, too small for a "
            f"location-grouped validation split; use a scale of at least {MIN_SCALE:.4f}"
        )
    table = plan_standin(counts["train"], counts["evaluate"], seed, pieces)
    write_metadata(root, table)
    if pieces > 1:
        write_splits(table[table["split"] == "train"], Path(root) / "split_setup", seed=seed)
    return expected_counts(scale, pieces)


def render_features(
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    seed: int,
    n_mels: int = 40,
    frames: int = 500,
    progress: bool | None = None,
) -> dict[str, Any]:
    """The features stage for the stand-in: render the features of ``table``'s clips (the folds as
    :func:`asc.data.tau.read_folds` returns them) into ``out_dir`` in build_features' format."""
    out_dir = Path(out_dir)
    voice = _Voice(table, seed, n_mels)
    s1, s2, total, clips = np.zeros(n_mels), np.zeros(n_mels), 0, {}
    # a with block: a failed render (a full disk, a kill) must not leave the bar open for the heartbeat to report
    with progress_bar(
        total=len(table), desc="stand-in features", unit="clip", show=show_progress(progress)
    ) as bar:
        for code, fold in enumerate(("train", "evaluate")):
            rows = table[table["split"] == fold].reset_index(drop=True)
            shape = (len(rows), n_mels, frames)
            with atomic_path(out_dir / f"{fold}.npy") as tmp, write_npy(tmp, shape, np.float32) as arr:
                for k, start in enumerate(range(0, len(rows), CHUNK)):
                    x = voice.render(
                        rows.iloc[start : start + CHUNK], frames, np.random.default_rng([seed, 2, code, k])
                    )
                    arr[start : start + len(x)] = x
                    if fold == "train":  # the normalisation statistics are fold1_train's, as build_features'
                        x64 = x.astype(np.float64)
                        s1 += x64.sum(axis=(0, 2))
                        s2 += (x64**2).sum(axis=(0, 2))
                        total += x.shape[0] * frames
                    bar.update(len(x))
            atomic_write_text(out_dir / f"{fold}.csv", rows.to_csv(index=False))
            clips[fold] = len(rows)
    mean = s1 / total
    std = np.sqrt((s2 - total * mean**2) / (total - 1))
    require_finite(f"normalisation statistics of {out_dir}", {"mean": mean, "std": std})
    with atomic_path(out_dir / "stats.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, mean=mean, std=std)
    return {"clips": clips, "shape": [n_mels, frames], "stats_frames": frames}
