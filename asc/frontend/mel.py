"""Filter banks, windows and log compression of asc's front ends (the options of
:class:`asc.frontend.frontend_options.FrontEnd`): the DCASE 2021 front end's (Slaney mel, periodic Hamming,
ln(mel + eps)) and the zoo's (conf/features/*.yaml: PANNs, VGGish, DCASE 2024, EfficientAT)."""

from __future__ import annotations

import numpy as np
import torch

from asc.frontend.frontend_options import FrontEnd
from asc.frontend.mel_scale import mel_domain_bank

EPS = float(np.spacing(1))


def mel_matrix(frontend: FrontEnd) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) filter bank: librosa's (Slaney or HTK scale, ``mel_norm``), or triangles in
    HTK-mel space (``mel_domain``: Kaldi's ``get_mel_banks`` as EfficientAT uses it, and Google's VGGish
    ``spectrogram_to_mel_matrix``: mel(f) = 1127 ln(1 + f/700), edges evenly spaced in mel, no normalisation)."""
    f = frontend
    if f.mel_scale == "mel_domain":
        return _mel_domain_bank(f)
    import librosa  # heavy import, only needed here

    return librosa.filters.mel(
        sr=f.sample_rate,
        n_fft=f.n_fft,
        n_mels=f.n_mels,
        fmin=f.fmin,
        fmax=f.fmax,
        htk=f.mel_scale == "htk",
        norm=f.mel_norm,
    )


def _mel_domain_bank(f: FrontEnd) -> np.ndarray:
    return mel_domain_bank(
        sample_rate=f.sample_rate, n_fft=f.n_fft, n_mels=f.n_mels, fmin=f.fmin, fmax=f.fmax
    )


def window_of(frontend: FrontEnd, dtype: torch.dtype) -> torch.Tensor:
    n = frontend.win_length
    if frontend.window == "hamming":
        return torch.hamming_window(n, periodic=True, dtype=dtype)
    return torch.hann_window(n, periodic=frontend.window == "hann", dtype=dtype)


def log_compress(mel: torch.Tensor, frontend: FrontEnd) -> torch.Tensor:
    """ln(mel + log_offset) or 10·log10(max(mel, 1e-10)) (see :data:`LOGS`)."""
    if frontend.log == "db":
        return 10.0 * torch.log10(mel.clamp_min(1e-10))
    return torch.log(mel + (EPS if frontend.log_offset is None else frontend.log_offset))
