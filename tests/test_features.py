"""Front-end fidelity: batched torch log-mel vs the per-clip librosa reference on demo clips read back from WAV."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml
from config_fixtures import composed

from asc.data.demo import Synthesiser, plan_clips
from asc.data.feature_arrays import load_split
from asc.frontend.audio import load_audio
from asc.frontend.features import LogMel, build_features, extract, librosa_reference
from asc.frontend.frontend_options import FrontEnd

CONF = Path(__file__).resolve().parents[1] / "conf"
FEATURES = FrontEnd.from_config(composed()["features"])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Three demo clips (reference device a, its parallel phone recording, the unseen device s4) as 24-bit WAVs."""
    cfg = yaml.safe_load((CONF / "dataset" / "demo.yaml").read_text())
    plan = plan_clips(cfg)
    first = plan[0]
    parallel = next(c for c in plan if c.segment == first.segment and c.device != "a")
    unseen = next(c for c in plan if c.device == "s4")
    assert first.device == "a"
    synth = Synthesiser(cfg)
    out_dir = tmp_path_factory.mktemp("feature_clips")
    result = []
    for clip in (first, parallel, unseen):
        rendered = synth.render(clip)
        path = out_dir / Path(clip.filename).name
        sf.write(path, rendered, cfg["sample_rate"], subtype="PCM_24", format="WAV")
        result.append({"clip": clip, "path": path, "rendered": rendered, "y": load_audio(path, FEATURES, 10)})
    return result


@pytest.fixture(scope="module")
def waves(clips: list[dict[str, Any]]) -> torch.Tensor:
    return torch.from_numpy(np.stack([c["y"] for c in clips]))


@pytest.fixture(scope="module")
def references(clips: list[dict[str, Any]]) -> list[np.ndarray]:
    return [librosa_reference(c["y"], FEATURES) for c in clips]


def logmel(waves: torch.Tensor, **overrides: Any) -> np.ndarray:
    with torch.inference_mode():
        # stats_frames=None: the output frames follow an overridden ``frames``.
        return LogMel(replace(FEATURES, **{"stats_frames": None, **overrides}))(waves).numpy()


def test_wav_round_trip_is_24_bit_exact(clips: list[dict[str, Any]]) -> None:
    for c in clips:
        y = c["y"]
        assert y.dtype == np.float32 and y.shape == (441_000,)  # float32 front end: decoded as float32
        assert np.abs(y - c["rendered"]).max() <= 2.0**-23  # half a 24-bit step, with margin
        assert np.abs(y).max() > 0.01  # not silence
    assert not np.array_equal(clips[0]["y"], clips[1]["y"])  # the device response changes the signal


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-4), ("float64", 1e-6)])
def test_batched_logmel_matches_librosa(
    waves: torch.Tensor, references: list[np.ndarray], dtype: str, tolerance: float
) -> None:
    out = logmel(waves, dtype=dtype)
    assert out.shape == (3, 40, 500) and out.dtype == np.float32
    for i, ref in enumerate(references):
        assert ref.shape == (40, 500)
        assert np.isfinite(out[i]).all()
        err = np.abs(out[i].astype(np.float64) - ref).max()
        assert err <= tolerance, f"clip {i}: max |torch - librosa| = {err:.3g} > {tolerance:g} ({dtype})"


def test_reference_follows_the_baseline_spec(
    clips: list[dict[str, Any]], references: list[np.ndarray]
) -> None:
    """librosa_reference against the front end written out from docs/dcase2021_baseline.md."""
    import librosa
    import scipy.signal

    y = clips[1]["y"]
    window = scipy.signal.windows.hamming(1764, sym=False)  # periodic Hamming, 40 ms
    spec = np.abs(
        librosa.stft(
            y + np.spacing(1),
            n_fft=2048,
            hop_length=882,
            win_length=1764,
            window=window,
            center=True,
            pad_mode="reflect",
        )
    )
    mel = librosa.filters.mel(
        sr=44100, n_fft=2048, n_mels=40, fmin=0.0, fmax=22050.0, htk=False, norm="slaney"
    )
    expected = np.log(mel @ spec + np.spacing(1))
    assert expected.shape == (40, 501)
    np.testing.assert_allclose(references[1], expected[:, :500], rtol=0, atol=1e-6)


def test_constant_padding_matches_librosa(waves: torch.Tensor, clips: list[dict[str, Any]]) -> None:
    ref = librosa_reference(clips[0]["y"], replace(FEATURES, pad_mode="constant"))
    out = logmel(waves[:1], pad_mode="constant")[0]
    assert np.abs(out - ref).max() <= 1e-4


def test_pad_mode_changes_only_the_edge_frames(waves: torch.Tensor) -> None:
    # All 501 frames: the first and the last frame reach into the padding, no other does.
    reflect = logmel(waves, frames=501, pad_mode="reflect")
    constant = logmel(waves, frames=501, pad_mode="constant")
    diff = np.abs(reflect - constant).max(axis=(0, 1))
    assert diff.shape == (501,)
    assert np.flatnonzero(diff).tolist() == [0, 500]
    # The baseline keeps frames 0..499, so with 500 frames only the first one depends on the padding.
    kept = np.abs(logmel(waves) - logmel(waves, pad_mode="constant")).max(axis=(0, 1))
    assert np.flatnonzero(kept).tolist() == [0]


def test_frame_count(waves: torch.Tensor) -> None:
    assert logmel(waves[:1]).shape == (1, 40, 500)
    # 441,000 samples at hop 882 give 1 + 441000 // 882 = 501 centred frames; the config keeps 500.
    assert logmel(waves[:1], frames=10_000).shape == (1, 40, 501)


def test_extract_batches_like_one_big_batch(clips: list[dict[str, Any]], waves: torch.Tensor) -> None:
    out = np.full((3, 40, 500), np.nan, dtype=np.float32)
    # batch_size 2 with 3 clips: one full batch and a partial last one.
    extract([c["path"] for c in clips], out, FEATURES, clip_seconds=10, batch_size=2, progress=False)
    np.testing.assert_allclose(out, logmel(waves), rtol=0, atol=1e-5)


def test_build_features_normalises_with_fold1_train(clips: list[dict[str, Any]], tmp_path: Path) -> None:
    root = clips[0]["path"].parent
    table = pd.DataFrame(
        {
            "filename": [c["path"].name for c in clips],
            "scene": [c["clip"].scene for c in clips],
            "device": [c["clip"].device for c in clips],
            "split": ["train", "val", "evaluate"],
        }
    )
    info = build_features(root, table, FEATURES, tmp_path, clip_seconds=10)
    assert info["clips"] == {"train": 1, "val": 1, "evaluate": 1}
    raw = {s: load_split(tmp_path, s, normalise=False)[0] for s in ("train", "val", "evaluate")}
    assert all(a.shape == (1, 40, 500) for a in raw.values())
    # Statistics over every frame of train + val (the evaluate clip must not leak in), sample std.
    fold1 = np.concatenate([raw["train"], raw["val"]]).astype(np.float64)
    mean = fold1.mean(axis=(0, 2))
    std = fold1.transpose(1, 0, 2).reshape(40, -1).std(axis=1, ddof=1)
    stats = np.load(tmp_path / "stats.npz")
    np.testing.assert_allclose(stats["mean"], mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats["std"], std, rtol=1e-6)
    x, rows = load_split(tmp_path, "evaluate")
    np.testing.assert_allclose(x, (raw["evaluate"] - mean[None, :, None]) / std[None, :, None], atol=1e-5)
    assert rows["filename"].tolist() == [clips[2]["path"].name]
