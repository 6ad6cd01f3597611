"""TUT Urban Acoustic Scenes 2018, development set (DCASE 2018 Task 1A; Zenodo record 1228142): 8,640 ten-second
clips of TAU's ten scenes, 48 kHz **stereo** 24-bit as published, with the official fold 1 split in
``evaluation_setup/fold1_train.txt`` and ``fold1_evaluate.txt`` (tab-separated: audio/<file>.wav, scene label).
The fold 1 evaluate list has 2,518 clips — the test set of the Nyström paper's VGGish_Net (64.69 %).

How the two channels become one is a config value (``dataset.channels``, :data:`CHANNEL_MIXES`): ``mean`` (the
DCASE 2018 baseline averages them to mono), ``left`` or ``right``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asc.errors import ConfigError, InputError

SETUP = "evaluation_setup"
LISTS = {"train": f"{SETUP}/fold1_train.txt", "evaluate": f"{SETUP}/fold1_evaluate.txt"}
EXPECTED = {"train": 6122, "evaluate": 2518}  # fold 1 (DCASE 2018 Task 1A; 6,122 + 2,518 = 8,640 clips)
SAMPLE_RATE, CHANNELS, CLIP_SECONDS = 48000, 2, 10
CHANNEL_MIXES = ("mean", "left", "right")
SCENES = (
    "airport", "bus", "metro", "metro_station", "park", "public_square", "shopping_mall", "street_pedestrian",
    "street_traffic", "tram",
)  # fmt: skip


def mix(audio: np.ndarray, how: str) -> np.ndarray:
    """One channel (samples,) of stereo audio (samples, 2) by ``how`` (:data:`CHANNEL_MIXES`)."""
    if how not in CHANNEL_MIXES:
        raise ConfigError(f"dataset.channels={how!r}; choose one of {', '.join(CHANNEL_MIXES)}")
    if audio.ndim == 1:
        raise InputError("TUT 2018 clips are stereo as published; this one is mono (a converted copy?)")
    return audio.mean(axis=1) if how == "mean" else audio[:, CHANNEL_MIXES.index(how) - 1]


def read_split(root: str | Path, *, expect_full: bool = True) -> dict[str, pd.DataFrame]:
    """Fold 1's train and evaluate lists (filename, scene_label), checked: both files, known scenes, every WAV
    present, no clip in both; with ``expect_full`` the published counts (6,122 / 2,518). InputError otherwise."""
    root = Path(root)
    out = {}
    for part, rel in LISTS.items():
        path = root / rel
        if not path.is_file():
            raise InputError(f"{path} is missing: dataset.root must hold TUT 2018's {SETUP}/ and audio/")
        table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], names=["filename", "scene_label"])
        unknown = sorted(set(table["scene_label"]) - set(SCENES))
        if unknown:
            raise InputError(f"{path}: scene {unknown[0]!r} is not one of TUT 2018's ten")
        missing = [f for f in table["filename"] if not (root / f).is_file()]
        if missing:
            raise InputError(f"{root} lacks {len(missing)} clip(s) that {rel} lists, e.g. {missing[0]}")
        if expect_full and len(table) != EXPECTED[part]:
            raise InputError(f"{path} lists {len(table)} clips; fold 1 {part} has {EXPECTED[part]}")
        out[part] = table
    both = set(out["train"]["filename"]) & set(out["evaluate"]["filename"])
    if both:
        raise InputError(
            f"{LISTS['train']} and {LISTS['evaluate']} share {len(both)} clip(s), e.g. {min(both)}"
        )
    return out
