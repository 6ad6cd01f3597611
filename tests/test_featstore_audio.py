"""Every clip is checked at decode (finite, mono, rate, length) and a failed build leaves no features or stats;
the normalisation statistics can use the official baseline's 501 frames per clip while 500 are stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from config_fixtures import composed

from asc.core.checks import NonFiniteError
from asc.data.feature_arrays import load_split
from asc.frontend.audio import AudioError, load_audio
from asc.frontend.features import build_features, librosa_reference
from asc.frontend.frontend_options import FrontEnd
from asc.pipeline.store import Store

CONF = Path(__file__).resolve().parents[1] / "conf"
FRONTEND = FrontEnd.from_config(composed()["features"])
SR = FRONTEND.sample_rate


def noise(seed: int, channels: int = 1) -> np.ndarray:
    y = np.random.default_rng(seed).uniform(-0.5, 0.5, (10 * SR, channels)).astype(np.float32)
    return y[:, 0] if channels == 1 else y


def write(path: Path, y: np.ndarray, subtype: str = "FLOAT") -> Path:
    sf.write(path, y, SR, subtype=subtype, format="WAV")
    return path


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_sample_is_an_error_naming_the_file(tmp_path: Path, bad: float) -> None:
    y = noise(0)
    y[1234] = bad
    path = write(tmp_path / "airport-nan.wav", y)
    assert not np.isfinite(sf.read(path, dtype="float32")[0]).all()  # the WAV really holds it
    with pytest.raises(AudioError, match="non-finite") as err:
        load_audio(path, FRONTEND, 10)
    assert str(path) in str(err.value)


def test_stereo_clip_is_an_error_not_averaged(tmp_path: Path) -> None:
    path = write(tmp_path / "stereo.wav", noise(1, channels=2), subtype="PCM_24")
    with pytest.raises(AudioError, match="2 channels, expected 1") as err:
        load_audio(path, FRONTEND, 10)
    assert str(path) in str(err.value)


def test_a_finite_float_wav_loads(tmp_path: Path) -> None:
    y = load_audio(write(tmp_path / "ok.wav", noise(2)), FRONTEND, 10)
    assert y.shape == (10 * SR,) and np.array_equal(y, noise(2))


def table(names: list[str], splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"filename": names, "scene": ["park"] * len(names), "split": splits})


@pytest.fixture
def good_clips(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    root.mkdir()
    for i in range(3):
        write(root / f"clip{i}.wav", noise(10 + i), subtype="PCM_24")
    return root


@pytest.mark.parametrize(
    ("value", "error"),
    [(np.nan, AudioError), (3e38, NonFiniteError)],
    ids=["nan-audio", "overflowing-features"],
)
def test_failed_build_leaves_nothing_behind(
    good_clips: Path, tmp_path: Path, value: float, error: type
) -> None:
    """The bad clip is in the last split, so train and val were already written when it fails."""
    y = noise(3)
    y[::100] = value  # 3e38 is finite audio, but its spectrum overflows float32: the feature batch is refused
    write(good_clips / "bad.wav", y)
    rows = table(["clip0.wav", "clip1.wav", "clip2.wav", "bad.wav"], ["train", "val", "evaluate", "evaluate"])
    store = Store(tmp_path / "store")
    art = store.artifact("features", {"name": "test"})

    def build(work: Path) -> dict:
        return build_features(good_clips, rows, FRONTEND, work, clip_seconds=10, batch_size=1, progress=False)

    with pytest.raises(error, match="bad.wav"):
        store.build(art, build)
    assert not art.done
    assert sorted(p.name for p in art.partial.iterdir()) == []  # no .npy, .csv, stats.npz or temp file


def test_statistics_over_501_frames(good_clips: Path, tmp_path: Path) -> None:
    rows = table(["clip0.wav", "clip1.wav", "clip2.wav"], ["train", "val", "evaluate"])
    official = replace(FRONTEND, stats_frames=501)
    build_features(good_clips, rows, FRONTEND, tmp_path / "500", clip_seconds=10, progress=False)
    info = build_features(good_clips, rows, official, tmp_path / "501", clip_seconds=10, progress=False)
    assert info["stats_frames"] == 501 and info["shape"] == [40, 500]
    stats = {n: np.load(tmp_path / n / "stats.npz") for n in ("500", "501")}
    # The stored features are the same 500 frames either way.
    for split in ("train", "val", "evaluate"):
        a, b = (load_split(tmp_path / n, split, normalise=False)[0] for n in ("500", "501"))
        assert a.shape == (1, 40, 500) and np.array_equal(a, b)
    # The statistics equal a direct numpy computation on the librosa reference's 501 frames of train + val.
    ref = np.concatenate(
        [
            librosa_reference(load_audio(good_clips / f, official, 10), official)
            for f in ("clip0.wav", "clip1.wav")
        ],
        axis=1,
    ).astype(np.float64)
    assert ref.shape == (40, 1002)
    mean, std = ref.mean(axis=1), ref.std(axis=1, ddof=1)
    np.testing.assert_allclose(stats["501"]["mean"], mean, rtol=0, atol=1e-4)
    np.testing.assert_allclose(stats["501"]["std"], std, rtol=0, atol=1e-4)
    # ... and differ from the 500-frame statistics by more than that tolerance (the 501st frame reaches into the
    # padding, so it is unlike the others).
    assert np.abs(stats["500"]["mean"] - stats["501"]["mean"]).max() > 1e-3


def test_stats_frames_must_be_frames_or_one_more() -> None:
    assert FRONTEND.stats_frames == 500  # the default follows frames
    with pytest.raises(ValueError, match="stats_frames=502"):
        replace(FRONTEND, stats_frames=502)
    with pytest.raises(ValueError, match="dtype"):
        replace(FRONTEND, dtype="float16")
