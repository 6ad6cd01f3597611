"""The synthetic tagging demo: PANNs' HDF5 layout (it passes the AudioSet check), a long-tailed label
distribution, overlapping events, determinism — and a sigmoid head learns it through the fused loop."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from asc.data.audioset_hdf5 import check_file
from asc.data.tagging_demo import generate
from asc.data.tasks import TAGGING
from asc.nets.model import build_model
from asc.training.tagging_metrics import tagging_metrics
from asc.training.train import Recipe, Run, train_many

CFG = {
    "seed": 0,
    "classes": 12,
    "tail": 1.0,
    "max_events": 3,
    "sample_rate": 16000,
    "clip_seconds": 1.0,
    "noise": 0.05,
    "train_clips": 240,
    "eval_clips": 120,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tagdemo")
    generate(CFG, folder)
    return folder


def test_layout_tail_overlap_and_determinism(demo: Path, tmp_path: Path) -> None:
    assert check_file(demo / "train.h5", sample_rate=16000, seconds=1.0, classes=12) == 240
    with h5py.File(demo / "train.h5") as f:
        y = f["target"][:]
        first = f["waveform"][:2]
    counts = y.sum(0)
    assert counts[0] > 4 * counts[-1] > 0  # long tail, every class present
    assert 1.5 < y.sum(1).mean() <= 3 and (y.sum(1) > 1).mean() > 0.5  # overlapping events
    generate({**CFG, "train_clips": 2, "eval_clips": 1}, tmp_path)
    with h5py.File(tmp_path / "train.h5") as f:
        assert np.array_equal(f["waveform"][:2], first)


def _logmel(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    import librosa

    with h5py.File(path) as f:
        waves, y = f["waveform"][:].astype(np.float32) / 32768, f["target"][:]
    mel = librosa.feature.melspectrogram(y=waves, sr=16000, n_fft=512, hop_length=320, n_mels=40)[..., :50]
    x = torch.from_numpy(np.log(mel + 1e-6)).float()
    return (x - x.mean()) / x.std(), torch.from_numpy(y).float()


@pytest.mark.slow
def test_a_sigmoid_head_learns_the_demo(demo: Path, tmp_path: Path) -> None:
    train, test = _logmel(demo / "train.h5"), _logmel(demo / "eval.h5")
    torch.manual_seed(0)
    spec = {"widths": [8, 8, 16], "input_shape": [40, 50], "n_classes": 12, "pools": [None, [5, 5], [4, 5]]}
    run = Run(
        build_model(spec), torch.arange(200), 0, tmp_path / "r", Recipe(8, 16, 3e-3, 1e-7, 0, "balanced")
    )
    (history,) = train_many([run], train, (train[0][200:], train[1][200:]), progress=False, task=TAGGING)
    run.model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(run.model(test[0])).numpy()
    scores = tagging_metrics(probs, test[1].numpy().astype(bool))
    chance = test[1].mean().item()  # a random ranking's mAP ≈ the positive rate
    assert scores["mAP"] > chance + 0.25 and scores["auc"] > 0.75, (scores["mAP"], chance)
    assert history["best_epoch"] >= 1
