"""Issue 18 item 1: a full disk while features are written is one line naming the folder (never a SIGBUS), and
every stage's planned writes can be checked up front with a message that is not about the dataset only."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reliability_fixtures import GB, fake_disks, mounted_tmpfs

from asc.core import disk
from asc.core.disk import (
    DATASET_FIX,
    DiskFullError,
    DiskSpaceError,
    Need,
    check_disk,
    explain_full_disk,
    feature_bytes,
    model_artifact_bytes,
    planned_bytes,
    results_bytes,
    rewrite_bytes,
)
from asc.data.feature_arrays import NpyWriter, write_npy
from asc.data.standin import plan_standin, render_features
from asc.frontend import audio
from asc.frontend.features import build_features
from asc.frontend.frontend_options import FrontEnd
from asc.pipeline.store import Store
from asc.report import results

FRONTEND = FrontEnd(
    sample_rate=8000, n_fft=256, win_length=200, hop_length=100, n_mels=40, fmin=0.0, fmax=4000.0,
    pad_mode="reflect", frames=80, dtype="float32", resample=False,
)  # fmt: skip


def noise_clip(path: Path, frontend: FrontEnd, clip_seconds: float) -> np.ndarray:
    return np.random.default_rng(len(str(path))).standard_normal(8000).astype(np.float32)


def test_features_on_a_full_tmpfs_fail_with_one_line_naming_the_folder(tmp_path: Path, monkeypatch) -> None:
    """Before: a memory-mapped write into a sparse file on a full disk killed the job with SIGBUS (exit 135)."""
    monkeypatch.setattr(audio, "load_audio", noise_clip)  # 40 one-second clips, no WAV files needed
    table = pd.DataFrame(
        {
            "filename": [f"c{i}.wav" for i in range(40)],
            "scene": "park",
            "split": ["train"] * 20 + ["evaluate"] * 20,
        }
    )
    with mounted_tmpfs(tmp_path / "small", size="128k") as small:
        out = small / "features"
        out.mkdir()
        with pytest.raises(DiskFullError) as err:
            build_features(tmp_path, table, FRONTEND, out, clip_seconds=1.0, progress=False)
        line = str(err.value)
        assert "\n" not in line and str(out) in line and "full or over quota" in line and "train.npy" in line
        assert "it needs 250.0 KiB" in line  # 20 clips x 40 x 80 float32
        assert [p.name for p in out.iterdir()] == []  # nothing half-written is left


def test_a_write_that_meets_enospc_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def full(self: NpyWriter, index: slice, value: np.ndarray) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(NpyWriter, "__setitem__", full)
    out = tmp_path / "features"
    out.mkdir()
    with pytest.raises(DiskFullError) as err:
        with write_npy(out / "train.npy", (3, 2, 4)) as arr:
            arr[0:1] = np.zeros((1, 2, 4))
    assert str(out) in str(err.value) and "train.npy" in str(err.value) and err.value.errno == errno.EDQUOT
    assert "\n" not in str(err.value)


def test_written_npy_reads_back_and_a_short_fill_is_an_error(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    with write_npy(tmp_path / "a.npy", x.shape) as arr:
        arr[0:2] = x[:2]
        arr[2:5] = x[2:]
    assert np.array_equal(np.load(tmp_path / "a.npy"), x)
    with pytest.raises(ValueError, match="2 of 5 clips"):
        with write_npy(tmp_path / "b.npy", x.shape) as arr:
            arr[0:2] = x[:2]
    with pytest.raises(ValueError, match="in order"):
        with write_npy(tmp_path / "c.npy", x.shape) as arr:
            arr[1:2] = x[1:2]
    (tmp_path / "d.npy").symlink_to(tmp_path / "elsewhere.npy")
    with pytest.raises(FileExistsError):  # O_EXCL: never written through a planted link
        with write_npy(tmp_path / "d.npy", x.shape):
            pass
    assert not (tmp_path / "elsewhere.npy").exists()


def test_explain_passes_other_errors_unchanged(tmp_path: Path) -> None:
    with pytest.raises(PermissionError):
        with explain_full_disk(tmp_path, "x"):
            raise PermissionError(errno.EACCES, "denied")


def test_estimates_of_what_stages_write() -> None:
    # TAU fold1: 13,962 + 2,968 clips of 40 x 500 float32 (README "The real dataset": 1.35 GB).
    assert abs(feature_bytes(13_962 + 2_968) - 1.355 * GB) < 0.01 * GB
    assert feature_bytes(10, n_mels=2, frames=3, itemsize=8) == 480 + disk.ARTIFACT_OVERHEAD
    # The baseline CNN (~46k parameters) trains within a few MB; a million-parameter model keeps its resume
    # checkpoint (model, Adam's two moments, the best weights) and the published model: 5 x 4 MB, and each epoch
    # writes the checkpoint's next version beside it (4 x 4 MB more, one run at a time: a transient).
    assert model_artifact_bytes(46_000, trains=True) < 3 << 20
    assert 5 * 4 * 10**6 < model_artifact_bytes(10**6, trains=True) < 6 * 4 * 10**6
    assert 4 * 4 * 10**6 < rewrite_bytes(10**6) < 5 * 4 * 10**6
    assert model_artifact_bytes(10**6, trains=False) < 2 * 4 * 10**6  # a pruned network: the model only
    assert results_bytes(100) == 100 * disk.ROW_BYTES


def test_check_disk_names_each_short_disk_and_the_fix_of_each_need(tmp_path: Path, monkeypatch) -> None:
    fake_disks(monkeypatch, tmp_path, {"scratch": 2 * GB, "home": 100 * GB})
    plan = [
        Need(tmp_path / "scratch" / "store" / "features", feature_bytes(16_930), "features"),
        Need(
            tmp_path / "scratch" / "store" / "train",
            model_artifact_bytes(46_000, trains=True),
            "2 trained models",
        ),
        Need(tmp_path / "home" / "results", results_bytes(10), "10 results rows", "point paths.results at …"),
    ]
    check_disk(plan)  # 1.36 GB + margin fit in 2 GB
    fake_disks(monkeypatch, tmp_path, {"scratch": GB, "home": 100 * GB})
    with pytest.raises(DiskSpaceError) as err:
        check_disk(plan)
    message = str(err.value)
    assert "\n" not in message and "free 953.7 MiB" in message
    assert "features in" in message and "2 trained models" in message and "results" not in message
    assert "dataset" not in message  # not a dataset need: no dataset advice
    assert f"point the setting that names {tmp_path / 'scratch' / 'store' / 'features'}" in message


def test_dataset_needs_keep_their_advice(tmp_path: Path, monkeypatch) -> None:
    fake_disks(monkeypatch, tmp_path, {"data": GB})
    with pytest.raises(DiskSpaceError, match="dataset.delete_archives=true") as err:
        check_disk([Need(tmp_path / "data" / "zips", 5 * GB, "18 zip(s) still to download", DATASET_FIX)])
    assert str(err.value).count("delete_archives") == 1


def test_standin_features_use_the_same_writer(tmp_path: Path) -> None:
    """The stand-in's features stage wrote through a memory map too (the same SIGBUS)."""
    with mounted_tmpfs(tmp_path / "small", size="128k") as small:
        with pytest.raises(DiskFullError, match="train.npy"):
            render_features(plan_standin(200, 40, 0), small, seed=0, frames=50, progress=False)


def test_a_full_disk_in_any_builder_names_the_artifact(tmp_path: Path) -> None:
    store = Store(tmp_path)
    art = store.artifact("train", {"seed": 0})

    def builder(work: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(work / "last.pt"))

    with pytest.raises(DiskFullError) as err:
        store.build(art, builder, describe="baseline seed 0", need=5 << 20)
    message = str(err.value)
    assert f"the disk holding {art.path.parent} is full" in message and "train " + art.key in message
    assert "it needs 5.0 MiB" in message and "\n" not in message


def test_a_full_disk_while_recording_results_is_named(tmp_path: Path, monkeypatch) -> None:
    def full(path: Path, text: str) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(results, "atomic_write_text", full)
    with pytest.raises(DiskFullError, match="results.csv"):
        results.append(tmp_path / "results.csv", [{"run_id": "x", "stage": "prune"}])


def test_the_largest_transient_of_a_disk_counts_once(tmp_path: Path, monkeypatch) -> None:
    """Training runs rewrite their resume checkpoints one at a time: each run's next version (a transient) is not
    added up over the runs; only the largest counts, on top of what the artifacts keep."""
    fake_disks(monkeypatch, tmp_path, {"scratch": GB})
    store = tmp_path / "scratch" / "store"
    runs = [Need(store, 100 << 20, f"run {i}", transient=300 << 20) for i in range(3)]
    assert planned_bytes(runs) == (300 + 300) << 20
    check_disk(runs)  # 600 MiB + 256 MiB margin fit in 953 MiB; summed transients (1.2 GiB) would not
    with pytest.raises(DiskSpaceError, match=r"300.0 MiB while a checkpoint of run 0 is rewritten"):
        check_disk([*runs, Need(store, 200 << 20, "features")])
