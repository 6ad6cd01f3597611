"""User errors give messages that say what is wrong and what the valid choices are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from asc.frontend.audio import AudioError, load_audio
from asc.frontend.frontend_options import FrontEnd
from asc.nets.model import build_model
from asc.prune import prune_model

CONF = Path(__file__).resolve().parents[1] / "conf"


def write_wav(path: Path, seconds: float, sample_rate: int = 44_100) -> Path:
    y = np.random.default_rng(0).uniform(-0.5, 0.5, round(seconds * sample_rate))
    sf.write(path, y, sample_rate, subtype="PCM_24", format="WAV")
    return path


def test_unknown_dataset_lists_the_options(run_asc, tmp_path: Path) -> None:
    result = run_asc(
        "dataset=nope",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
        timeout=120,
    )
    assert result.returncode != 0
    assert "Could not find 'dataset/nope'" in result.output, result.output
    assert "Available options in 'dataset'" in result.output
    assert "demo" in result.output and "tau2020mobile" in result.output
    assert not (tmp_path / "data").exists()


def test_missing_audio_file(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "audio" / "airport-lisbon-1000-40000-a.wav"
    with pytest.raises(AudioError, match="airport-lisbon-1000-40000-a.wav") as err:
        load_audio(path, FrontEnd.from_config(features_cfg), 10)
    assert str(path) in str(err.value)


def test_wrong_sample_rate_points_to_resample(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    path = write_wav(tmp_path / "clip22k.wav", 10, sample_rate=22_050)
    with pytest.raises(AudioError, match="features.resample") as err:
        load_audio(path, FrontEnd.from_config(features_cfg), 10)
    assert str(path) in str(err.value) and "22050" in str(err.value)
    # With resampling switched on the same file is accepted at the configured rate.
    y = load_audio(path, FrontEnd.from_config({**features_cfg, "resample": True}), 10)
    assert y.shape == (441_000,)


def test_truncated_wav_is_named(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    path = write_wav(tmp_path / "chopped.wav", 10)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 3000)  # the header still promises 441,000 frames
    with pytest.raises(AudioError) as err:
        load_audio(path, FrontEnd.from_config(features_cfg), 10)
    assert str(path) in str(err.value)


def test_short_wav_is_named(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    path = write_wav(tmp_path / "five_seconds.wav", 5)
    with pytest.raises(AudioError, match="220500") as err:
        load_audio(path, FrontEnd.from_config(features_cfg), 10)
    assert str(path) in str(err.value) and "441000" in str(err.value)


def test_corrupt_file_is_named(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(b"RIFF but not really a wave file" * 10)
    with pytest.raises(AudioError) as err:
        load_audio(path, FrontEnd.from_config(features_cfg), 10)
    assert str(path) in str(err.value)


def test_valid_wav_loads(features_cfg: dict[str, Any], tmp_path: Path) -> None:
    """The control for the cases above: a correct clip passes the same checks."""
    y = load_audio(write_wav(tmp_path / "ok.wav", 10), FrontEnd.from_config(features_cfg), 10)
    assert y.shape == (441_000,) and y.dtype == np.float32
    y64 = load_audio(tmp_path / "ok.wav", FrontEnd.from_config({**features_cfg, "dtype": "float64"}), 10)
    assert y64.dtype == np.float64 and np.array_equal(y64, y)  # 24-bit PCM is exact in float32


def test_a_bad_value_is_one_line_before_any_work(run_asc, tmp_path: Path) -> None:
    """A config error prints one concise line (key, value, valid choices); the traceback goes to the job log."""
    run = tmp_path / "run"
    result = run_asc(
        "stage=nope",
        f"hydra.run.dir={run}",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
        timeout=120,
    )
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("asc: error: stage='nope'"), result.output
    for stage in ("dataset", "index", "features", "train", "prune", "finetune", "report"):
        assert stage in errors[0]
    assert "Traceback" not in result.output
    assert "Traceback" in (run / "cli.log").read_text()
    assert not (tmp_path / "data").exists() and not (tmp_path / "store").exists()


def test_unknown_model_key_lists_the_valid_keys() -> None:
    with pytest.raises(ValueError, match="widht") as err:
        build_model({"widht": [8, 8, 16]})
    assert "valid keys" in str(err.value) and "widths" in str(err.value) and "kernel" in str(err.value)


def test_inconsistent_model_spec() -> None:
    with pytest.raises(ValueError, match="pools"):
        build_model({"widths": [8, 8]})
    with pytest.raises(ValueError, match="positive"):
        build_model({"widths": [8, 0, 16]})


def test_unknown_prune_layer_lists_the_valid_layers() -> None:
    with pytest.raises(ValueError, match="C9") as err:
        prune_model(build_model(), {"name": "cosine", "layers": ["C9"]})
    assert "C1, C2, C3" in str(err.value)
