"""Mel scales and the support of a mel filter bank, in numpy alone (no librosa, no torch): what planning needs to
check a front end, and the mel-domain bank EfficientAT and VGGish use. The filter *values* of the Slaney and
HTK banks are librosa's (asc/frontend/mel.py); which FFT bins a band covers depends only on the band edges computed here.

Sources: Slaney's Auditory Toolbox scale (linear below 1 kHz, 200/3 Hz per mel; logarithmic above, step
ln(6.4)/27), as librosa.mel_frequencies(htk=False) computes it; HTK's mel(f) = 2595·log10(1 + f/700);
Kaldi/VGGish's mel-domain triangles, mel(f) = 1127·ln(1 + f/700).
"""

from __future__ import annotations

import numpy as np

F_SP, MIN_LOG_HZ = 200.0 / 3, 1000.0
MIN_LOG_MEL, LOGSTEP = MIN_LOG_HZ / F_SP, np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray, *, htk: bool) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    mel = hz / F_SP
    log = hz >= MIN_LOG_HZ
    return np.where(log, MIN_LOG_MEL + np.log(np.maximum(hz, MIN_LOG_HZ) / MIN_LOG_HZ) / LOGSTEP, mel)


def mel_to_hz(mel: np.ndarray, *, htk: bool) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return np.where(mel >= MIN_LOG_MEL, MIN_LOG_HZ * np.exp(LOGSTEP * (mel - MIN_LOG_MEL)), F_SP * mel)


def triangles(edges_hz: np.ndarray, bins_hz: np.ndarray) -> np.ndarray:
    """(bands, bins) triangular weights, unnormalised, of bands whose (left, centre, right) are consecutive
    ``edges_hz``, at the FFT bin frequencies ``bins_hz``."""
    left, centre, right = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    up, down = (bins_hz[None, :] - left) / (centre - left), (right - bins_hz[None, :]) / (right - centre)
    return np.maximum(0.0, np.minimum(up, down))


def mel_domain_bank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles in HTK-mel space (mel(f) = 1127 ln(1 + f/700), edges evenly spaced in
    mel, no normalisation): Kaldi's ``get_mel_banks`` as EfficientAT uses it, Google's VGGish
    ``spectrogram_to_mel_matrix``."""

    def mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)

    edges = np.linspace(mel(fmin), mel(fmax), n_mels + 2)
    bins = mel(np.arange(n_fft // 2 + 1) * sample_rate / n_fft)
    return triangles(edges, bins).astype(np.float32)


def empty_bands(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, mel_scale: str
) -> np.ndarray:
    """Indices of the mel bands that cover no FFT bin (their log-energy is constant: NaN after standardising),
    for a ``mel_scale`` of slaney, htk (librosa's banks) or mel_domain."""
    if mel_scale == "mel_domain":
        bank = mel_domain_bank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    else:
        htk = mel_scale == "htk"
        edges = mel_to_hz(
            np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk
        )
        bank = triangles(edges, np.fft.rfftfreq(n_fft, 1.0 / sample_rate))
    return np.flatnonzero(bank.max(axis=1) <= 0)
