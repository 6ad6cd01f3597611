"""Dependency-graph pruning (asc/nets/groups.py, group_criteria.py) on stand-ins with coupled layers: every
criterion at 25/50/75 % keeps the output shape, lowers parameters and MACs, and the pruned network equals the
unpruned one with the removed channels zeroed after their BatchNorm (or at the conv, without BN)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from group_checks import masked_output, randomise  # noqa: E402
from group_nets import DepthwiseNet, PlainVGG, ResidualNet  # noqa: E402

from asc.nets.groups import Network, count_macs  # noqa: E402
from asc.prune.group_criteria import RANKING, SETS, select_weights, super_representatives  # noqa: E402
from asc.prune.group_surgery import prune_network  # noqa: E402

NETS = {
    "residual": (ResidualNet, ("head",)),
    "depthwise": (DepthwiseNet, ("head",)),
    "vgg": (PlainVGG, ("fc1", "out")),
}
RATIOS = (0.25, 0.5, 0.75)
CASES = [(c, r) for c in sorted(RANKING) for r in RATIOS] + [(c, None) for c in sorted(SETS)]
CASES += [("given", r) for r in RATIOS] + [("random", r) for r in RATIOS]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny nets on one thread


def _net(kind: str, seed: int = 0):
    cls, ignored = NETS[kind]
    torch.manual_seed(seed)
    return (
        randomise(cls(), seed),
        torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(seed)),
        ignored,
    )


def _config(name: str, ratio: float | None, net: Network | None) -> dict:
    cfg = {"name": name, "layers": ["*"], "ratio": ratio, "landmarks": 3, "reference": "l1"}
    if name == "given":  # every other channel of each group, from the last, as many as the ratio keeps
        kept = {}
        for g in net.groups:
            k = max(1, g.channels - int(ratio * g.channels + 0.5))
            for m in g.members:
                kept[m.name] = (
                    list(range(g.channels - 1, -1, -2))[:k] if k <= g.channels // 2 else list(range(k))
                )
        cfg["kept"] = kept
    return cfg


@pytest.mark.parametrize("kind", sorted(NETS))
@pytest.mark.parametrize(("name", "ratio"), CASES)
def test_pruned_equals_masked(kind, name, ratio):
    model, x, ignored = _net(kind)
    cfg = _config(name, ratio, Network(model, x, ignored) if name == "given" else None)
    before = model(x)
    pruned, info = prune_network(model, x, cfg, ignored)
    assert torch.equal(model(x), before)  # the input model is unchanged
    out = pruned.eval()(x)
    assert out.shape == before.shape
    assert info["params"][1] < info["params"][0] == sum(p.numel() for p in model.parameters())
    assert info["macs"][1] < info["macs"][0] == count_macs(model, x)
    assert sum(p.numel() for p in pruned.parameters()) == info["params"][1]
    if name == "random":  # the widths of the reference, fresh weights
        _, ref = prune_network(model, x, dict(cfg, name="l1"), ignored)
        assert info["widths"] == ref["widths"]
        return
    assert (out - masked_output(model, x, info["history"])).abs().max() <= 1e-5
    for label, names in info["groups"].items():  # one kept set per group, in every member
        assert len({len(info["kept"][n]) for n in names}) == 1, label


def test_conv_names_forward_order_and_groups():
    model, x, ignored = _net("residual")
    net = Network(model, x, ignored)
    # forward order: the shortcut runs before the second block's convs (ResidualNet.forward)
    assert net.convs == {
        "C1": "stem.0",
        "C2": "b1a.0",
        "C3": "b1b.0",
        "C4": "short.0",
        "C5": "b2a.0",
        "C6": "b2b.0",
    }
    assert [g.label for g in net.groups] == ["C1+C3", "C2", "C4+C6", "C5"]
    assert net.group_of("C3") is net.group_of("stem.0")


def test_depthwise_groups_and_globs():
    model, x, ignored = _net("depthwise")
    net = Network(model, x, ignored)
    dw = net.group_of("expand.0")
    assert dw.depthwise and [m.path for m in dw.members] == ["expand.0", "dw.0"]
    picked = net.resolve(["*"])
    assert net.groups.index(dw) not in picked  # a glob skips depthwise groups ...
    assert net.groups.index(dw) in net.resolve(["*"], depthwise=True)
    assert list(net.resolve(["expand.0"])) == [net.groups.index(dw)]  # ... naming one of its convs selects it
    with pytest.raises(ValueError, match="matches no prunable conv"):
        net.resolve(["head"])  # the head is never a prunable conv


def test_head_and_front_end_are_ignored():
    model, x, _ = _net("vgg")
    assert "C1" in Network(model, x, ("fc1", "out")).convs
    assert Network(model, x, ("features.0",)).convs["C1"] == "features.3"  # an ignored conv gets no name


def test_disagreeing_ratios_in_a_group_refused():
    model, x, ignored = _net("residual")
    cfg = {"name": "l1", "layers": ["C1", "C3"], "ratio": 0.5, "per_layer_ratio": {"C1": 0.25, "C3": 0.5}}
    with pytest.raises(ValueError, match="group C1\\+C3"):
        prune_network(model, x, cfg, ignored)


def test_average_refused_on_coupled_group_allowed_alone():
    model, x, ignored = _net("residual")
    with pytest.raises(ValueError, match="prune=average is not defined on coupled group C1\\+C3"):
        prune_network(model, x, {"name": "average", "layers": ["C1"]}, ignored)
    pruned, info = prune_network(model, x, {"name": "average", "layers": ["C2"]}, ignored)
    assert pruned(x).shape == (2, 5) and info["widths"]["C2"] < 12


def test_given_must_agree_in_a_group():
    model, x, ignored = _net("residual")
    with pytest.raises(ValueError, match="different kept lists"):
        prune_network(
            model, x, {"name": "given", "layers": ["C1"], "kept": {"C1": [0, 1], "C3": [0, 2]}}, ignored
        )


def test_single_member_group_is_the_layer_criterion():
    from asc.prune.criteria import lookup

    w = torch.randn(12, 6, 3, 3, generator=torch.Generator().manual_seed(1))
    for name in ("l1", "fpgm", "centrality", "cosine", "nystrom"):
        opts = {"ratio": 0.5, "landmarks": 4}
        assert select_weights([w], ["C1"], name, opts).kept == lookup(name)(w, dict(opts, layer="C1")).kept


def test_super_filter_cosine_is_the_mean_of_members():
    from asc.prune import representatives as rep

    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 4, 3, 3, generator=gen), torch.randn(6, 8, 1, 1, generator=gen)
    s = rep.cosine_similarity(super_representatives([a, b]))
    mean = (rep.cosine_similarity(rep.representatives(a)) + rep.cosine_similarity(rep.representatives(b))) / 2
    assert torch.allclose(s, mean, atol=1e-12)


def test_ranking_combines_scaled_member_scores():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(4, 2, 3, 3, generator=gen)
    b = torch.randn(4, 64, 3, 3, generator=gen) * 100  # a huge fan-in member does not outvote the other
    a[0] *= 10
    b[0] *= 0.01  # channel 0: top of a, bottom of b; mean of scaled scores
    sel = select_weights([a, b], ["C1", "C2"], "l1", {"ratio": 0.5})
    assert len(sel.kept) == 2 and len(sel.extras["score"]) == 4


def test_check_config_names_what_the_network_refuses():
    from asc.prune.group_surgery import check_config

    model, x, ignored = _net("residual")
    assert check_config(model, x, {"name": "l1", "layers": ["b2*"], "ratio": 0.5}, ignored) == ["C4+C6", "C5"]
    with pytest.raises(ValueError, match="not defined on coupled group C4\\+C6"):
        check_config(model, x, {"name": "average", "layers": ["C6"]}, ignored)
    with pytest.raises(ValueError, match="'C9' matches no prunable conv"):
        check_config(model, x, {"name": "l1", "layers": ["C9"], "ratio": 0.5}, ignored)
    with pytest.raises(ValueError, match="no kept indices for group C2"):
        check_config(model, x, {"name": "given", "layers": ["C2"], "kept": {"C1": [0]}}, ignored)


def test_prune_any_dispatches_by_family():
    from types import SimpleNamespace

    from model_fixtures import randomised_model

    from asc.prune import prune_any, prune_model

    dcase = randomised_model()
    cfg = {"name": "l1", "layers": ["C1", "C2"], "ratio": 0.5}
    exact = SimpleNamespace(exact_surgery=True, ignored=("classifier.*",))
    pruned, info = prune_any(dcase, cfg, exact)
    want = prune_model(dcase, cfg)
    assert info["kept"] == want[1]["kept"] and "history" not in info
    assert all(
        torch.equal(a, b)
        for a, b in zip(pruned.state_dict().values(), want[0].state_dict().values(), strict=True)
    )
    model, x, ignored = _net("residual")
    graph = SimpleNamespace(exact_surgery=False, ignored=ignored)
    pruned, info = prune_any(model, {"name": "l1", "layers": ["C2"], "ratio": 0.5}, graph, x)
    assert info["widths"] == {"C2": 6} and info["history"][0][0] == "b1a.0"


def test_an_ignored_conv_is_pruned_when_named_by_its_path():
    model, x, _ = _net("vgg")
    ignored = ("features.0",)  # e.g. a front end
    assert Network(model, x, ignored).convs["C1"] == "features.3"
    pruned, info = prune_network(model, x, {"name": "l1", "layers": ["features.0"], "ratio": 0.5}, ignored)
    assert info["widths"] == {"features.0": 4} and info["convs"]["C1"] == "features.3"
    with pytest.raises(ValueError, match="matches no prunable conv"):
        prune_network(model, x, {"name": "l1", "layers": ["features.*"], "ratio": 0.5}, ("features.*",))
