"""The front end's values (conf/features/*.yaml) declared without torch: the choices of
:class:`asc.frontend.features.FrontEnd`'s fields and :func:`check_features`, the planning check of a features config
(asc/pipeline/validate.py calls it; FrontEnd checks the same choices again when it is built).
"""

from __future__ import annotations

from collections.abc import Mapping
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
