"""TUT Urban Acoustic Scenes 2018 past the dataset stage, on a small brought folder of real stereo 48 kHz WAVs:
the index (fold 1, location-grouped hold-out), features of the channel mix (dataset.channels) resampled to the
front end's rate, a baseline trained and scored; a mono copy refused at planning in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from config_fixtures import composed

from asc.app.cli import run
from asc.core.errors import InputError
from asc.data import tut2018
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.validate import validate


def tut_folder(root: Path, channels: int = 2) -> Path:
    """Ten scenes, one city: locations 0 and 1 in fold 1 train, location 2 in evaluate; 1-s clips."""
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    lists: dict[str, list[str]] = {"train": [], "evaluate": []}
    for k, scene in enumerate(tut2018.SCENES):
        for loc in (0, 1, 2):
            name = f"audio/{scene}-barcelona-{loc}-0-a.wav"
            t = np.arange(48000) / 48000
            tone = 0.3 * np.sin(2 * np.pi * (200 + 150 * k) * t)
            audio = np.stack([tone, 0.5 * tone][:channels], axis=1) + 0.01 * rng.standard_normal(
                (48000, channels)
            )
            sf.write(root / name, audio, 48000, subtype="PCM_16")
            lists["evaluate" if loc == 2 else "train"].append(f"{name}\t{scene}")
    for part, lines in lists.items():
        (root / f"evaluation_setup/fold1_{part}.txt").write_text("\n".join(lines) + "\n")
    return root


def _cfg(tmp_path: Path, *extra: str) -> dict:
    return composed(
        "dataset=tut2018",
        f"dataset.root={tmp_path / 'tut'}",
        "dataset.download=false",
        "dataset.clip_seconds=1",
        "features=logmel40x51",
        "features.sample_rate=44100",  # resampled from the files' 48 kHz
        "features.resample=true",
        "model=dcase22",
        "train.epochs=1",
        "train.select_after=0",
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        *extra,
    )


@pytest.fixture
def small_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tut2018, "EXPECTED", {"train": 20, "evaluate": 10})


def test_tut2018_indexed_mixed_and_trained(tmp_path: Path, small_fold: None) -> None:
    tut_folder(tmp_path / "tut")
    cfg = _cfg(tmp_path, "stage=train", "dataset.channels=left")
    validate(cfg)
    run(cfg)
    (index_csv,) = (tmp_path / "store" / "index").glob("*/index.csv")
    table = pd.read_csv(index_csv)
    assert table["split"].value_counts().to_dict() == {"evaluate": 10, "train": 10, "val": 10}
    held = table[table["split"] == "val"]
    assert not set(held["location"]) & set(table.loc[table["split"] == "train", "location"])
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert rows["accuracy"].between(0, 1).all() and (rows["stage"] == "baseline").all()
    left = tut2018.load_clip(
        tmp_path / "tut" / table["filename"][0], channels="left", rate=44100, clip_seconds=1
    )
    mean = tut2018.load_clip(
        tmp_path / "tut" / table["filename"][0], channels="mean", rate=44100, clip_seconds=1
    )
    assert left.shape == (44100,) and np.abs(mean).max() < np.abs(left).max()  # the right channel is quieter
    assert make_plan(_cfg(tmp_path, "dataset.channels=mean"))[2].key != make_plan(cfg)[2].key


def test_mono_copy_refused_at_planning(tmp_path: Path, small_fold: None) -> None:
    tut_folder(tmp_path / "tut", channels=1)
    cfg = _cfg(tmp_path)
    with pytest.raises(
        InputError, match=r"is 1 channel\(s\) at 48000 Hz; TUT 2018 is published stereo"
    ) as err:
        check_plan(make_plan(cfg), cfg, upto="train")
    assert "\n" not in str(err.value)
