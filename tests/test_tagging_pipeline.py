"""The packed HDF5 sets past the dataset stage (asc/data/h5_clips.py): their index (a row per clip, tags as
labels, folds by file), the random hold-out, the (N, classes) targets, the waveforms as the features read them,
and a brought AudioSet folder planned through index and features with its faults refused in one line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from config_fixtures import composed

from asc.core.errors import ConfigError, InputError
from asc.data.h5_clips import read_index, split_validation, targets, waveforms
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.stages import index
from asc.pipeline.validate import validate


def write_packed(
    path: Path, names: list[str], tags: np.ndarray, *, samples: int = 320, seed: int = 0
) -> None:
    """A small file in PANNs' layout: int16 waveforms of ``samples``, bool targets ``tags`` (N, classes)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.create_dataset("audio_name", data=np.array([n.encode() for n in names], dtype="S20"))
        f.create_dataset("waveform", data=rng.integers(-3000, 3000, (len(names), samples), dtype=np.int16))
        f.create_dataset("target", data=tags.astype(bool))


def test_index_rows_folds_labels_and_targets(tmp_path: Path) -> None:
    tags = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]], dtype=bool)
    write_packed(tmp_path / "a.h5", ["x.wav", "y.wav", "z.wav"], tags)
    write_packed(tmp_path / "e.h5", ["x.wav"], tags[:1])  # the same clip name in another file: its own row
    table = read_index(tmp_path, {"balanced_train": "a.h5", "eval": "e.h5"})
    assert table["filename"].tolist() == ["a.h5/x.wav", "a.h5/y.wav", "a.h5/z.wav", "e.h5/x.wav"]
    assert table["split"].tolist() == ["train", "train", "train", "evaluate"]
    assert table["labels"].tolist() == ["0;2", "", "1;3", "0;2"]
    assert np.array_equal(targets(table.iloc[:3], 4), tags.astype(np.float32))
    write_packed(tmp_path / "d.h5", ["x.wav", "x.wav"], tags[:2])
    with pytest.raises(InputError, match="d.h5/x.wav is listed twice"):
        read_index(tmp_path, {"train": "d.h5", "eval": "e.h5"})
    with pytest.raises(ConfigError, match="one evaluation file"):
        read_index(tmp_path, {"train": "a.h5"})


def test_hold_out_is_drawn_from_training_clips_whatever_their_order(tmp_path: Path) -> None:
    n = 50
    tags = np.eye(n, 3, dtype=bool)
    write_packed(tmp_path / "t.h5", [f"c{i:03d}.wav" for i in range(n)], tags)
    write_packed(tmp_path / "e.h5", ["e.wav"], tags[:1])
    table = read_index(tmp_path, {"train": "t.h5", "eval": "e.h5"})
    held = split_validation(table, amount=0.2, seed=3)
    assert (held["split"] == "val").sum() == 10 and held["split"].iloc[-1] == "evaluate"
    shuffled = split_validation(table.iloc[::-1].reset_index(drop=True), amount=0.2, seed=3)
    assert set(shuffled.loc[shuffled["split"] == "val", "filename"]) == set(
        held.loc[held["split"] == "val", "filename"]
    )
    other = split_validation(table, amount=0.2, seed=4)
    assert not other["split"].equals(held["split"])


def test_waveforms_scaled_resampled_and_length_checked(tmp_path: Path) -> None:
    write_packed(tmp_path / "t.h5", ["a.wav", "b.wav"], np.eye(2, 3, dtype=bool), samples=160)
    write_packed(tmp_path / "e.h5", ["e.wav"], np.eye(1, 3, dtype=bool), samples=160)
    rows = read_index(tmp_path, {"train": "t.h5", "eval": "e.h5"}).iloc[:2]
    with h5py.File(tmp_path / "t.h5", "r") as f:
        raw = f["waveform"][:]
    same = list(waveforms(tmp_path, rows, sample_rate=16000, target_rate=16000, clip_seconds=0.01))
    assert np.array_equal(same[0], raw[0].astype(np.float32) / 32768)
    up = list(waveforms(tmp_path, rows, sample_rate=16000, target_rate=32000, clip_seconds=0.01))
    assert up[1].shape == (320,) and up[1].dtype == np.float32
    with pytest.raises(InputError, match=r"clip 0 has 160 samples at 16000 Hz, expected 320"):
        next(waveforms(tmp_path, rows, sample_rate=16000, target_rate=16000, clip_seconds=0.02))


def _audioset(tmp_path: Path, *extra: str) -> dict:
    return composed(
        "dataset=audioset",
        f"dataset.root={tmp_path / 'as'}",
        "dataset.classes=4",
        "dataset.clip_seconds=0.1",
        "model=panns_cnn10",
        "model.n_classes=4",
        "features.frames=11",
        "features.stats_frames=11",
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        *extra,
    )


def test_brought_audioset_folder_planned_through_index_and_features(tmp_path: Path) -> None:
    folder = tmp_path / "as"
    folder.mkdir()
    tags = np.random.default_rng(0).random((30, 4)) < 0.4
    write_packed(folder / "balanced_train.h5", [f"t{i}.wav" for i in range(30)], tags, samples=3200)
    write_packed(folder / "eval.h5", [f"e{i}.wav" for i in range(6)], tags[:6], samples=3200)
    cfg = _audioset(tmp_path, "stage=features")
    validate(cfg)
    steps = make_plan(cfg)
    check_plan(steps, cfg, upto="features")
    preview = index.preview(cfg)  # known at planning: the brought files are read for it
    assert preview["split"].value_counts().to_dict() == {"train": 27, "val": 3, "evaluate": 6}
    with pytest.raises(ConfigError, match="features.resample=false: set features.resample=true"):
        bad = _audioset(
            tmp_path, "features.sample_rate=16000", "features.resample=false", "features.fmax=8000"
        )
        check_plan(make_plan(bad), bad, upto="features")
    with pytest.raises(ConfigError, match="dataset.validation.method='grouped'"):
        validate(_audioset(tmp_path, "dataset.validation.method=grouped"))
    with pytest.raises(ConfigError, match=r"model.n_classes=527, but audioset has 4 classes"):
        bad = _audioset(tmp_path, "model.n_classes=527")
        check_plan(make_plan(bad), bad, upto="train")
    write_packed(folder / "eval.h5", ["e.wav"], tags[:1], samples=1600)  # 16 kHz, not 32
    with pytest.raises(InputError, match=r"eval.h5: waveform has 1600 samples per clip") as err:
        make_plan(_audioset(tmp_path))
    assert "\n" not in str(err.value)
