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

from asc.core.errors import ConfigError, InputError

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


def read_index(root: str | Path) -> pd.DataFrame:
    """Fold 1 as the pipeline's index rows (filename, scene, city, location, device, split = train | evaluate):
    the fields parsed from the names (``audio/<scene>-<city>-<location>-<segment>-<device>.wav``, as TAU's), the
    location ``<city>-<location>`` (what the grouped hold-out keeps together). Checked by :func:`read_split`."""
    from asc.data.tau import parse_filename

    rows = []
    for split, table in read_split(root).items():
        for filename, scene in zip(table["filename"], table["scene_label"], strict=True):
            try:
                fields = parse_filename(filename)
            except ValueError as err:
                raise InputError(f"{Path(root) / LISTS[split]}: {err}") from None
            rows.append({**fields, "filename": filename, "scene": scene, "split": split})
    return pd.DataFrame(rows, columns=["filename", "scene", "city", "location", "device", "split"])


def load_clip(path: Path, *, channels: str, rate: int, clip_seconds: float) -> np.ndarray:
    """One clip (samples,) float32 at ``rate``: decoded, its two channels mixed by ``channels``
    (:data:`CHANNEL_MIXES`), resampled (scipy.signal.resample_poly) from the file's rate. InputError naming the
    file when it is unreadable, mono, non-finite or not ``clip_seconds`` long."""
    from math import gcd

    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - libsndfile's reasons vary: name the file, in one line
        raise InputError(
            f"cannot decode {path} ({str(err).strip().splitlines()[-1]}); re-download it"
        ) from None
    if audio.shape[1] != CHANNELS:
        raise InputError(f"{path} has {audio.shape[1]} channel(s); TUT 2018 clips are stereo as published")
    y = mix(audio, channels)
    if sr != rate:
        g = gcd(int(sr), int(rate))
        y = resample_poly(y, int(rate) // g, int(sr) // g).astype(np.float32)
    if not np.isfinite(y).all() or y.size != round(clip_seconds * rate):
        raise InputError(
            f"{path} has {y.size} samples at {rate} Hz (expected {round(clip_seconds * rate)}) or non-finite "
            "ones; the file is truncated or damaged, re-download it"
        )
    return y


def check_first_clip(root: Path, sample_rate: int) -> None:
    """Planning, on a brought folder: the first clip of fold 1's evaluate list is stereo at ``sample_rate``
    (a header read); InputError in one line otherwise (a mono or resampled copy)."""
    import soundfile as sf

    listed = pd.read_csv(root / LISTS["evaluate"], sep="\t", header=None, usecols=[0], names=["filename"])
    if listed.empty:
        return
    path = root / listed["filename"].iloc[0]
    info = sf.info(str(path))
    if info.channels != CHANNELS or info.samplerate != sample_rate:
        raise InputError(
            f"{path} is {info.channels} channel(s) at {info.samplerate} Hz; TUT 2018 is published stereo at "
            f"{sample_rate} Hz (dataset.sample_rate): bring the published clips, the mix is dataset.channels"
        )
