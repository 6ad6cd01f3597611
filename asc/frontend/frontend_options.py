"""The front end's values (conf/features/*.yaml) declared without torch: :class:`FrontEnd` (the values that
define the features, which asc/frontend/features.py computes), the choices of its fields and
:func:`check_features`, the planning check of a features config (asc/pipeline/validate.py calls it; FrontEnd checks
the same choices again when it is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from asc.core.values import boolean, choice, fail, integer

DTYPES = ("float32", "float64")
PAD_MODES = ("reflect", "constant")
# Options of the zoo's front ends (conf/features/*.yaml); each default is the DCASE 2021 front end's, and a
# features config holds the key only when it differs from it (so today's features keys are unchanged).
WINDOWS = (
    "hamming",
    "hann",
    "hann_symmetric",
)  # periodic Hamming / periodic Hann / symmetric Hann (EfficientAT)
MEL_SCALES = (
    "slaney",
    "htk",
    "mel_domain",
)  # librosa's two; mel_domain: triangles in HTK-mel space (Kaldi, VGGish)
MEL_NORMS = ("slaney", None)
LOGS = ("ln", "db")  # ln(mel + log_offset) | 10·log10(max(mel, 1e-10)) (torchlibrosa's power_to_db, PANNs)


@dataclass(frozen=True)
class FrontEnd:
    """The values that define the features (conf/features/*.yaml); speed-only knobs are arguments of
    asc.frontend.features.extract().

    ``stats_frames`` is how many frames per clip the normalisation statistics see: ``frames`` (ours) or
    ``frames + 1`` (the official baseline computes them on all 501 frames and cuts the 501st only afterwards).
    ``None`` means ``frames``.
    """

    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float
    pad_mode: str
    frames: int
    dtype: str
    resample: bool
    stats_frames: int | None = None
    window: str = "hamming"
    power: float = 1.0  # 1: magnitude, 2: power spectrum
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    log: str = "ln"
    log_offset: float | None = None  # None: numpy.spacing(1), the 2021 baseline's eps
    center: bool = True  # False: frames start at sample 0 (VGGish's framing)
    preemphasis: float = 0.0  # y[n] - a·y[n-1] before the STFT (EfficientAT: 0.97)

    def __post_init__(self) -> None:
        if self.stats_frames is None:
            object.__setattr__(self, "stats_frames", self.frames)
        if self.stats_frames not in (self.frames, self.frames + 1):
            raise ValueError(
                f"features.stats_frames={self.stats_frames} must be features.frames ({self.frames}) or "
                f"frames + 1 ({self.frames + 1}, the official baseline's statistics)"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"features.dtype={self.dtype!r} is not one of {DTYPES}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"features.pad_mode={self.pad_mode!r} is not one of {PAD_MODES}")
        for key, value, choices in (
            ("window", self.window, WINDOWS),
            ("mel_scale", self.mel_scale, MEL_SCALES),
            ("mel_norm", self.mel_norm, MEL_NORMS),
            ("log", self.log, LOGS),
            ("power", self.power, (1.0, 2.0)),
        ):
            if value not in choices:
                raise ValueError(f"features.{key}={value!r} is not one of {choices}")
        if not 0.0 <= self.preemphasis < 1.0:
            raise ValueError(f"features.preemphasis={self.preemphasis} must be in [0, 1)")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FrontEnd:
        """The FrontEnd fields of a features config node (other keys, e.g. name/batch_size/workers, are not ours)."""
        names = [f.name for f in fields(cls)]
        optional = {f.name for f in fields(cls) if f.default is not MISSING}
        missing = [n for n in names if n not in cfg and n not in optional]
        if missing:
            raise ValueError(
                f"the features config lacks {missing}; conf/features/logmel40x500.yaml lists them all"
            )
        return cls(**{n: cfg[n] for n in names if n in cfg})


def check_features(f: Mapping[str, Any], d: Mapping[str, Any]) -> None:
    """The ``features`` node ``f`` against itself and the ``dataset`` node ``d`` (its sample rate). Raises
    ConfigError naming the first bad key, its value and what is valid."""
    for key in ("n_fft", "win_length", "hop_length", "n_mels", "frames"):
        integer(f"features.{key}", f[key], 1)
    boolean("features.resample", f["resample"])
    # protocol.stats_frames sets it for the 500-frame front end; another `frames` needs it set beside it
    if f["stats_frames"] not in (f["frames"], f["frames"] + 1):
        fail(
            "features.stats_frames",
            f["stats_frames"],
            f"features.frames or one more ({f['frames']} or {f['frames'] + 1}; set it beside features.frames)",
        )
    choice("features.pad_mode", f["pad_mode"], PAD_MODES)
    choice("features.dtype", f["dtype"], DTYPES)
    if f["sample_rate"] != d["sample_rate"] and not f["resample"]:
        fail(
            "features.sample_rate",
            f["sample_rate"],
            f"dataset.sample_rate ({d['sample_rate']}), or features.resample=true to resample the clips",
        )
