"""The DCASE 2021 baseline CNN: the paper's size, Keras-like initialisation and checkpoint round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_fixtures import randomised_model
from torch import nn

from asc.nets.complexity import complexity
from asc.nets.model import DEFAULT_SPEC, build_model, conv_names, load_model, normalise_spec, save_model


def test_parameter_and_mac_counts_match_the_paper() -> None:
    model = build_model()
    assert sum(p.numel() for p in model.parameters()) == 46_118
    c = complexity(model)
    assert c["params_torch"] == 46_118
    assert c["params_keras"] == 46_246
    assert c["macs"] == 286_637_800


def test_layout_and_output_shape() -> None:
    model = build_model().eval()
    convs = model.convs()
    assert list(convs) == ["C1", "C2", "C3"] == conv_names(model.spec)
    assert [c.out_channels for c in convs.values()] == [16, 16, 32]
    assert all(c.kernel_size == (7, 7) and c.padding == (3, 3) for c in convs.values())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)
    dense = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(64, 100), (100, 10)]
    with torch.no_grad():
        assert model(torch.zeros(2, 40, 500)).shape == (2, 10)  # (batch, mel, frames) accepted
        assert model(torch.zeros(2, 1, 40, 500)).shape == (2, 10)


def test_keras_like_initialisation() -> None:
    torch.manual_seed(0)
    model = build_model()
    for conv in model.convs().values():
        fan_in = conv.in_channels * 49
        fan_out = conv.out_channels * 49
        bound = (6 / (fan_in + fan_out)) ** 0.5  # Xavier (Glorot) uniform
        assert conv.weight.abs().max() <= bound
        assert conv.weight.abs().max() > 0.8 * bound
        assert torch.count_nonzero(conv.bias) == 0
    for dense in (m for m in model.classifier if isinstance(m, nn.Linear)):
        assert dense.weight.abs().max() <= 0.05 and dense.weight.abs().max() > 0.04
        assert torch.count_nonzero(dense.bias) == 0


@pytest.mark.parametrize("widths", [[16, 16, 32], [11, 11, 22]], ids=["full", "pruned-11-11-22"])
def test_save_load_round_trip(widths: list[int], tmp_path: Path) -> None:
    model = randomised_model({"widths": widths}).eval()
    path = tmp_path / "ckpt" / "model.pt"
    extra = {"config": {"train": {"lr": 0.001, "layers": ["C1", "C2"]}}, "kept": {"C1": [0, 2, 5]}}
    save_model(model, path, **extra)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind

    blob = torch.load(path, map_location="cpu", weights_only=True)  # plain data only: safe to load
    assert blob["spec"]["widths"] == widths
    assert blob["kept"] == extra["kept"]

    loaded, rest = load_model(path)
    assert rest == extra
    assert loaded.spec == model.spec
    assert [c.out_channels for c in loaded.convs().values()] == widths
    assert loaded.classifier[1].in_features == widths[-1] * 2
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(original) == list(restored)
    for name, tensor in original.items():
        assert torch.equal(tensor, restored[name]), name

    loaded.eval()
    x = torch.randn(3, 1, 40, 500, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_pruned_width_spec_counts() -> None:
    c = complexity(build_model({"widths": [11, 11, 22]}))
    assert c["params_torch"] < 46_118 and c["macs"] < 286_637_800
    assert c["params_keras"] - c["params_torch"] == 2 * (11 + 11 + 22)  # BN moving mean + variance


def test_load_missing_checkpoint_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(tmp_path / "nope.pt")


def test_normalise_spec_fills_defaults_and_plain_types() -> None:
    spec = normalise_spec({"widths": (4.0, 4, 8), "pools": [None, (5, 5), (4, 100)]})
    assert spec["widths"] == [4, 4, 8] and all(type(w) is int for w in spec["widths"])
    assert spec["pools"] == [None, [5, 5], [4, 100]]
    assert {k: v for k, v in spec.items() if k not in ("widths",)} == {
        k: v for k, v in DEFAULT_SPEC.items() if k not in ("widths",)
    }
