"""prune_model: every criterion × the paper's 7 layer sets, the info dict, the configs and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from config_fixtures import composed
from model_fixtures import randomised_model
from omegaconf import OmegaConf
from torch import nn

from asc.nets.model import build_model, load_model, save_model
from asc.prune import CRITERIA, prune_model

CONF = Path(__file__).resolve().parents[1] / "conf" / "prune"
LAYER_SETS = [["C1"], ["C2"], ["C3"], ["C1", "C2"], ["C1", "C3"], ["C2", "C3"], ["C1", "C2", "C3"]]


def config(name: str, **overrides) -> dict:
    """conf/prune/<name>.yaml with overrides; ``given`` (which needs indices) reads authors_kept.yaml."""
    stem = "authors_kept" if name == "given" else name
    return {**composed()["criteria"][stem], **overrides}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return randomised_model()


def test_every_criterion_has_a_config_and_vice_versa() -> None:
    files = {p.stem for p in CONF.glob("*.yaml")}
    assert files - {"authors_kept"} == set(CRITERIA)
    for stem in files:
        cfg = yaml.safe_load((CONF / f"{stem}.yaml").read_text())
        assert cfg["name"] == (stem if stem != "authors_kept" else "given") and "_target_" not in cfg
        # centrality defaults to the WASPAA paper's operating point (C1 and C2 only)
        assert cfg["layers"] == (["C1", "C2"] if stem == "centrality" else ["C1", "C2", "C3"])
        assert composed()["criteria"][stem]["dense_mapping"] == "correct"  # protocol=ours


@pytest.mark.parametrize("layers", LAYER_SETS, ids="+".join)
@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_each_criterion_and_layer_set(model: nn.Module, tmp_path: Path, name: str, layers: list[str]) -> None:
    pruned, info = prune_model(model, config(name, layers=layers))
    assert info["criterion"] == name and info["layers"] == layers
    assert set(info["kept"]) == {"C1", "C2", "C3"}
    for layer, conv in model.convs().items():
        kept = info["kept"][layer]
        assert kept == sorted(set(kept)) and 1 <= len(kept) <= conv.out_channels
        if layer not in layers:
            assert kept == list(range(conv.out_channels))
        assert len(info["closest_distance"][layer]) == len(info["l1_norms"][layer]) == conv.out_channels
    assert info["widths"] == [len(info["kept"][c]) for c in ("C1", "C2", "C3")] == pruned.spec["widths"]
    save_model(pruned, tmp_path / "m.pt", prune=info)
    again, extra = load_model(tmp_path / "m.pt")
    assert extra["prune"]["kept"] == info["kept"]
    with torch.no_grad():
        out = again.eval()(torch.randn(1, 40, 500))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


def test_ratio_criteria_match_cosine_counts_and_per_layer_override(model: nn.Module) -> None:
    _, cos = prune_model(model, config("cosine"))
    for name in ("l1", "l2", "fpgm"):
        _, info = prune_model(model, config(name))
        assert info["widths"] == cos["widths"]
    _, info = prune_model(model, config("l1", ratio=0.5, per_layer_ratio={"C2": 0.25}))
    assert info["widths"] == [8, 12, 16]
    _, info = prune_model(model, config("centrality", layers=["C1", "C2"]))
    assert info["widths"] == [8, 8, 32]


def test_random_is_seeded_fresh_init_with_reference_widths(model: nn.Module) -> None:
    _, cos = prune_model(model, config("cosine"))
    state = torch.random.get_rng_state()
    a, info = prune_model(model, config("random"))
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    b, _ = prune_model(model, config("random"))
    c, _ = prune_model(model, config("random", seed=1))
    assert info["widths"] == cos["widths"]
    w = [m.convs()["C2"].weight for m in (a, b, c)]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])
    assert torch.equal(a.features[1].running_var, torch.ones_like(a.features[1].running_var))


def test_info_extras(model: nn.Module) -> None:
    _, info = prune_model(model, config("nystrom", layers=["C2", "C3"], landmarks=49))
    assert set(info["nystrom_error"]) == {"C2", "C3"} and max(info["nystrom_error"].values()) < 1e-8
    assert info["kept_equals_exact"] == {"C2": True, "C3": True}
    assert set(info["select_s"]) == set(info["similarity_s"]) == {"C2", "C3"}
    _, cos = prune_model(model, config("cosine"))
    assert min(cos["closest_distance"]["C1"]) >= 0
    torch.testing.assert_close(
        torch.tensor(cos["l1_norms"]["C2"]), model.convs()["C2"].weight.detach().abs().sum(dim=(1, 2, 3))
    )


def test_accepts_omegaconf_and_leaves_model_unchanged(model: nn.Module) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, info = prune_model(model, OmegaConf.create(config("l1", ratio=0.5, per_layer_ratio={"C3": 0.75})))
    assert info["widths"] == [8, 8, 8]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_errors_list_the_valid_choices(model: nn.Module) -> None:
    with pytest.raises(ValueError, match="valid ones: average, centrality, chebyshev, cosine"):
        prune_model(model, {"name": "cosinus", "layers": ["C1"]})
    with pytest.raises(ValueError, match="valid ones: C1, C2, C3"):
        prune_model(model, {"name": "cosine", "layers": ["C1", "C5"]})
    with pytest.raises(ValueError, match="valid ones: C1, C2, C3"):
        prune_model(model, {"name": "cosine", "layers": []})
    with pytest.raises(ValueError, match="not in prune.layers"):
        prune_model(model, config("l1", layers=["C1"], per_layer_ratio={"C2": 0.5}))
    with pytest.raises(ValueError, match="ratio"):
        prune_model(model, config("l1", match=None))


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_tiny_layers_and_pruning_twice(name: str) -> None:
    torch.manual_seed(2)
    tiny = build_model({"widths": [1, 2, 3]}).eval()
    given = {"kept": {"C1": [0], "C2": [1], "C3": [0, 2]}} if name == "given" else {}
    pruned, info = prune_model(tiny, config(name, layers=["C1", "C2", "C3"], **given))
    assert all(w >= 1 for w in info["widths"])
    again, _ = prune_model(pruned, config(name, layers=["C3"], **({"kept": {"C3": [1]}} if given else {})))
    with torch.no_grad():
        assert again(torch.randn(1, 40, 500)).shape == (1, 10)


def test_random_cannot_reference_itself(model: nn.Module) -> None:
    with pytest.raises(ValueError, match="other than random"):
        prune_model(model, config("random", reference="random"))
