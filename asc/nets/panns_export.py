"""A (pruned) CNN14 as the state dict of the published E-PANNs inference model (``epanns_inference.Cnn14_pruned``,
PANNs' ``Cnn14`` layout): asc's network keys (``bn0``, ``conv_block1..6.conv1/conv2/bn1/bn2``, ``fc1``,
``fc_audioset``) are PANNs' own, so the dict is the network's plus the waveform front end PANNs builds into the
model and asc computes outside it (conf/features/panns64.yaml):

- ``spectrogram_extractor.stft.conv_real.weight`` / ``conv_imag.weight`` (n_fft/2+1, 1, n_fft): torchlibrosa's
  DFT as a Conv1d, ``real/imag(W[:, :n_fft/2+1] · window)ᵀ`` with W[x, y] = exp(−2πi·x·y / n_fft) and the periodic
  Hann window (torchlibrosa/stft.py ``STFT``);
- ``logmel_extractor.melW`` (n_fft/2+1, n_mels): ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)ᵀ``, Slaney
  mel scale and norm (torchlibrosa ``LogmelFilterBank``).

These constants are frozen in PANNs but counted as parameters by PyTorch: E-PANNs' 50 % of C7…C12 has 23,205,839
network parameters and 24,289,295 with them (2 × 513 × 1024 + 513 × 64 = 1,083,456; reference/networks.md 1.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

FRONT_END = {"sample_rate": 32000, "n_fft": 1024, "n_mels": 64, "fmin": 50.0, "fmax": 14000.0}
BUFFERS = ("num_batches_tracked", "running_mean", "running_var")  # state-dict entries that are not parameters


def front_end_tensors(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> dict[str, torch.Tensor]:
    """torchlibrosa's STFT and log-mel constants under PANNs' key names (see the module docstring)."""
    import librosa
    from scipy.signal import get_window

    window = get_window("hann", n_fft, fftbins=True)
    bins = n_fft // 2 + 1
    x = np.arange(n_fft)
    dft = np.exp(-2j * np.pi * np.outer(x, x[:bins]) / n_fft) * window[:, None]  # (n_fft, bins)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return {
        "spectrogram_extractor.stft.conv_real.weight": torch.tensor(
            dft.real.T[:, None, :], dtype=torch.float32
        ),
        "spectrogram_extractor.stft.conv_imag.weight": torch.tensor(
            dft.imag.T[:, None, :], dtype=torch.float32
        ),
        "logmel_extractor.melW": torch.tensor(mel.T, dtype=torch.float32),
    }


def epanns_state_dict(model: nn.Module, **front_end: float) -> dict[str, torch.Tensor]:
    """The state dict (keys and shapes of ``Cnn14_pruned``) of ``model``, a (pruned) asc CNN14
    (asc/nets/panns.py ``Cnn`` with six conv blocks), with the front end of ``front_end`` (default
    :data:`FRONT_END`, PANNs' AudioSet settings). Raises ValueError for another network."""
    state = model.state_dict()
    blocks = {k.split(".")[0] for k in state if k.startswith("conv_block")}
    if len(blocks) != 6 or "bn0.weight" not in state or "fc_audioset.weight" not in state:
        raise ValueError(
            f"{type(model).__name__} is not a CNN14 (six conv blocks, bn0, fc_audioset): only model=panns_cnn14 "
            "maps onto E-PANNs' Cnn14_pruned"
        )
    settings = {**FRONT_END, **front_end}
    return {**front_end_tensors(**settings), **{k: v.detach().cpu() for k, v in state.items()}}


def parameter_count(state: dict[str, torch.Tensor]) -> int:
    """What ``sum(p.numel() for p in Cnn14_pruned(...).parameters())`` counts of ``state``: every entry but BN's
    running statistics."""
    return sum(v.numel() for k, v in state.items() if not k.endswith(BUFFERS))


def save_epanns(model: nn.Module, path: str | Path, **front_end: float) -> Path:
    """Write :func:`epanns_state_dict` as a bare state dict (E-PANNs' checkpoint format: ``torch.load`` then
    ``Cnn14_pruned(...).load_state_dict``)."""
    path = Path(path)
    torch.save(epanns_state_dict(model, **front_end), path)
    return path
