"""The planning-time mel check (asc/frontend/mel_scale.py, numpy alone) finds exactly the bands librosa's bank leaves
empty, on every front end of conf/features and on settings that empty some bands."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from omegaconf import OmegaConf

from asc.core.config_files import CONF_DIR
from asc.frontend.mel_scale import empty_bands

FRONT_ENDS = sorted(p.stem for p in (CONF_DIR / "features").glob("*.yaml"))


def librosa_empty(**f) -> np.ndarray:
    import librosa

    with warnings.catch_warnings():  # librosa warns of the empty bands
        warnings.simplefilter("ignore")
        bank = librosa.filters.mel(
            sr=f["sample_rate"], n_fft=f["n_fft"], n_mels=f["n_mels"], fmin=f["fmin"], fmax=f["fmax"],
            htk=f["mel_scale"] == "htk",
        )  # fmt: skip
    return np.flatnonzero(bank.max(axis=1) <= 0)


def front_end(name: str) -> dict:
    """A conf/features file with the file it extends (``defaults``) under it; a rate that follows the dataset
    is TAU's 44.1 kHz (the 16-kHz demo's file names its own fmax)."""
    f = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "features" / f"{name}.yaml"), resolve=False)
    for parent in [d for d in f.pop("defaults", []) if d != "_self_"]:
        f = {**front_end(parent), **f}
    if not isinstance(f["sample_rate"], int):
        f["sample_rate"] = 16000 if name.endswith("_16k") else 44100
    return f


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_every_front_end_has_no_empty_band(name: str) -> None:
    f = front_end(name)
    args = dict(
        sample_rate=f["sample_rate"], n_fft=f["n_fft"], n_mels=f["n_mels"], fmin=f["fmin"], fmax=f["fmax"]
    )
    assert empty_bands(**args, mel_scale=f.get("mel_scale", "slaney")).size == 0


@pytest.mark.parametrize("scale", ["slaney", "htk"])
@pytest.mark.parametrize(
    ("n_fft", "n_mels", "fmin", "fmax"),
    [(256, 128, 0, 8000), (512, 256, 50, 14000), (2048, 40, 0, 22050), (128, 64, 300, 4000)],
)  # noqa: E501
def test_empty_bands_equal_librosas(scale: str, n_fft: int, n_mels: int, fmin: float, fmax: float) -> None:
    args = dict(sample_rate=44100, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, mel_scale=scale)
    assert empty_bands(**args).tolist() == librosa_empty(**args).tolist()
