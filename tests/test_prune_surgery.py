"""Surgery: the physically smaller model computes what the unpruned one does with those channels silenced."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from model_fixtures import randomised_model
from torch import nn

from asc.nets.model import build_model, load_model, save_model
from asc.prune.surgery import prune_filters


def silence(model: nn.Module, kept: dict[str, list[int]]) -> nn.Module:
    """Copy of ``model`` whose removed channels output exactly 0 (conv weight/bias = 0, BN γ = β = 0)."""
    out = copy.deepcopy(model)
    bns = [m for m in out.features if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for (name, conv), bn in zip(out.convs().items(), bns, strict=True):
            drop = [i for i in range(conv.out_channels) if i not in kept.get(name, range(conv.out_channels))]
            for t in (conv.weight, conv.bias, bn.weight, bn.bias):
                t[drop] = 0
    return out


LAYER_SUBSETS = [("C1",), ("C2",), ("C3",), ("C1", "C3"), ("C2", "C3"), ("C1", "C2", "C3")]


@pytest.mark.parametrize("layers", LAYER_SUBSETS, ids="+".join)
def test_pruned_logits_equal_silenced_unpruned(layers: tuple[str, ...]) -> None:
    model = randomised_model()
    gen = torch.Generator().manual_seed(len(layers))
    kept = {}
    for name in layers:
        n = model.convs()[name].out_channels
        kept[name] = sorted(torch.randperm(n, generator=gen)[: n // 2 + 1].tolist())
    pruned = prune_filters(model, kept)
    assert [c.out_channels for c in pruned.convs().values()] == [
        len(kept.get(n, range(c.out_channels))) for n, c in model.convs().items()
    ]
    x = torch.randn(2, 40, 500, generator=gen)
    with torch.no_grad():
        out = pruned(x)
        torch.testing.assert_close(out, silence(model, kept)(x), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(out, model(x), atol=1e-3)  # the pruning did change something


def test_dense_columns_follow_nchw_flatten() -> None:
    model = randomised_model()
    pruned = prune_filters(model, {"C3": [1, 30]})
    dense = model.classifier[1].weight
    # final map is 2×1: channel c owns columns 2c, 2c + 1
    assert torch.equal(pruned.classifier[1].weight, dense[:, [2, 3, 60, 61]])
    assert torch.equal(pruned.features[8].weight, model.features[8].weight[[1, 30]])  # C3 is features[8]


def test_mix_replaces_kept_filters_and_biases() -> None:
    model = randomised_model()
    mix = torch.zeros(2, 16, dtype=torch.float64)
    mix[0, [0, 5]] = 0.5
    mix[1, 7] = 1.0
    pruned = prune_filters(model, {"C2": [0, 7]}, {"C2": mix})
    old, new = model.convs()["C2"], pruned.convs()["C2"]
    torch.testing.assert_close(new.weight[0], (old.weight[0] + old.weight[5]) / 2)
    torch.testing.assert_close(new.bias[0], (old.bias[0] + old.bias[5]) / 2)
    torch.testing.assert_close(new.weight[1], old.weight[7])
    with pytest.raises(ValueError, match="mix has shape"):
        prune_filters(model, {"C2": [0, 7]}, {"C2": mix[:1]})


def test_pruned_model_round_trips_and_input_is_untouched(tmp_path: Path) -> None:
    model = randomised_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = prune_filters(model, {"C1": [0, 3], "C3": list(range(0, 32, 3))})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert pruned.spec["widths"] == [2, 16, 11] and not pruned.training
    save_model(pruned, tmp_path / "p.pt", kept={"C1": [0, 3]})
    again, extra = load_model(tmp_path / "p.pt")
    assert extra["kept"] == {"C1": [0, 3]}
    x = torch.randn(1, 40, 500)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), pruned(x))


def test_surgery_rejects_bad_indices() -> None:
    model = randomised_model()
    with pytest.raises(ValueError, match="valid ones: C1, C2, C3"):
        prune_filters(model, {"C4": [0]})
    with pytest.raises(ValueError, match="at least one"):
        prune_filters(model, {"C1": []})
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        prune_filters(model, {"C2": [16]})


def test_surgery_is_generic_over_depth() -> None:
    torch.manual_seed(1)
    spec = {"widths": [6, 5, 4, 7], "pools": [None, [5, 5], None, [4, 100]]}
    model = build_model(spec).eval()
    kept = {"C2": [0, 4], "C3": [1, 2, 3], "C4": [6]}
    pruned = prune_filters(model, kept)
    assert pruned.spec["widths"] == [6, 2, 3, 1]
    x = torch.randn(2, 40, 500)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), silence(model, kept)(x), atol=1e-5, rtol=1e-5)
