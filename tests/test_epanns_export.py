"""A CNN14 at E-PANNs' widths (C7…C12 at 50 %) exported with the keys and shapes of epanns_inference.Cnn14_pruned:
the published counts (23,205,839 network parameters; 24,289,295 with torchlibrosa's STFT/mel constants), and the
constants computing the same power spectrum and mel filters as asc's front end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asc.nets.panns import cnn10, cnn14
from asc.nets.panns_export import epanns_state_dict, parameter_count, save_epanns

EPANNS_WIDTHS = (64, 128, 256, 256, 512, 1024)  # blocks 4-6 (C7…C12) at half of CNN14's 512/1024/2048


def pruned_like_epanns() -> torch.nn.Module:
    """CNN14 as pruning C7…C12 at 50 % leaves it: the convs halved, fc1's inputs with them (1024), its 2048
    outputs and fc_audioset untouched (they are not pruned layers)."""
    model = cnn14(widths=EPANNS_WIDTHS, n_classes=527)
    model.fc1, model.fc_audioset = torch.nn.Linear(1024, 2048), torch.nn.Linear(2048, 527)
    return model


def test_epanns_widths_give_the_published_counts(tmp_path) -> None:
    model = pruned_like_epanns()
    assert sum(p.numel() for p in model.parameters()) == 23_205_839
    state = epanns_state_dict(model)
    assert parameter_count(state) == 24_289_295
    assert state["spectrogram_extractor.stft.conv_real.weight"].shape == (513, 1, 1024)
    assert state["logmel_extractor.melW"].shape == (513, 64)
    assert state["conv_block4.conv1.weight"].shape == (256, 256, 3, 3)
    assert state["fc1.weight"].shape == (2048, 1024) and state["fc_audioset.weight"].shape == (527, 2048)
    path = save_epanns(model, tmp_path / "epanns.pt")
    loaded = torch.load(path, weights_only=True)
    assert loaded.keys() == state.keys()


def test_dft_constants_compute_the_power_spectrum() -> None:
    state = epanns_state_dict(cnn14(widths=(4, 4, 8, 8, 8, 8), n_classes=5))
    y = torch.randn(1, 1, 1024)
    real = torch.nn.functional.conv1d(y, state["spectrogram_extractor.stft.conv_real.weight"])
    imag = torch.nn.functional.conv1d(y, state["spectrogram_extractor.stft.conv_imag.weight"])
    window = torch.hann_window(1024, periodic=True)
    want = torch.fft.rfft(y[0, 0] * window).abs() ** 2
    assert torch.allclose((real**2 + imag**2)[0, :, 0], want, rtol=1e-3, atol=1e-3)
    assert np.all(state["logmel_extractor.melW"].numpy() >= 0)


def test_other_networks_refused() -> None:
    with pytest.raises(ValueError, match="is not a CNN14"):
        epanns_state_dict(cnn10(widths=(4, 4, 8, 8), n_classes=5))
