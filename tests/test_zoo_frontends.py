"""The zoo's front ends (conf/features/{panns64,vggish64,dcase2024,efficientat128}.yaml) through asc's LogMel:
frames per clip as the planning check computes them, and the numbers against librosa's own melspectrogram."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from asc.frontend.features import EPS, LogMel
from asc.frontend.frontend_options import FrontEnd
from asc.pipeline.stages.features import frames_per_clip

CLIPS = {"panns64": 10.0, "vggish64": 10.0, "dcase2024": 1.0, "efficientat128": 10.0}


def _frontend(repo_root, name):
    return yaml.safe_load((repo_root / "conf" / "features" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_frames_per_clip_match_the_network_input(repo_root, name):
    cfg = _frontend(repo_root, name)
    seconds = CLIPS[name] if name == "dcase2024" else 2.0  # short clips keep the test fast; frames scale
    every_frame = FrontEnd.from_config({**cfg, "frames": 10**6, "stats_frames": 10**6})
    x = LogMel(every_frame)(torch.randn(1, int(seconds * cfg["sample_rate"])) * 0.1)
    assert x.shape[1] == cfg["n_mels"] and torch.isfinite(x).all()
    assert x.shape[2] == frames_per_clip(cfg, seconds)
    assert frames_per_clip(cfg, CLIPS[name]) in (cfg["frames"], cfg["frames"] + 1)


@pytest.mark.parametrize(
    ("name", "htk", "norm", "compress"),
    [
        ("panns64", False, "slaney", lambda m: 10 * np.log10(np.maximum(m, 1e-10))),
        ("dcase2024", True, None, lambda m: np.log(m + 1e-5)),
    ],
)
def test_against_librosa_melspectrogram(repo_root, name, htk, norm, compress):
    librosa = pytest.importorskip("librosa")
    cfg = _frontend(repo_root, name)
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(cfg["sample_rate"]) * 0.1).astype(np.float64)
    fe = FrontEnd.from_config({**cfg, "dtype": "float64", "frames": 40, "stats_frames": 40})
    ours = LogMel(fe)(torch.from_numpy(y)[None]).numpy()[0]
    mel = librosa.feature.melspectrogram(
        y=y + EPS,
        sr=cfg["sample_rate"],
        n_fft=cfg["n_fft"],
        hop_length=cfg["hop_length"],
        win_length=cfg["win_length"],
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=cfg["n_mels"],
        fmin=cfg["fmin"],
        fmax=cfg["fmax"],
        htk=htk,
        norm=norm,
    )
    np.testing.assert_allclose(ours, compress(mel)[:, :40], atol=2e-4)


def test_mel_domain_bank_peaks_at_band_centres(repo_root):
    from asc.frontend.features import mel_matrix

    cfg = _frontend(repo_root, "vggish64")
    bank = mel_matrix(FrontEnd.from_config(cfg))
    assert bank.shape == (64, 257) and (bank >= 0).all() and bank.max() <= 1.0
    hz = np.arange(257) * 16000 / 512
    assert bank[:, hz < 125].max() == 0 and bank[:, hz > 7500].max() == 0  # nothing outside 125-7,500 Hz
    assert (np.diff(bank.argmax(axis=1)) >= 0).all()  # band centres rise with the band index


def test_default_front_end_unchanged_by_the_new_options(repo_root):
    cfg = _frontend(repo_root, "logmel40x500")
    cfg = {**cfg, "sample_rate": 44100, "stats_frames": 500}
    fe = FrontEnd.from_config(cfg)
    assert (
        fe.window,
        fe.power,
        fe.mel_scale,
        fe.mel_norm,
        fe.log,
        fe.log_offset,
        fe.center,
        fe.preemphasis,
    ) == ("hamming", 1.0, "slaney", "slaney", "ln", None, True, 0.0)
