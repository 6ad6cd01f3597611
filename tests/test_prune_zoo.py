"""Dependency-graph pruning of every zoo network but the DCASE family (which keeps its hand surgery,
tests/test_prune_oracle.py): every criterion at 25/50/75 % of its prunable groups keeps the output shape, lowers
parameters and MACs, and equals the unpruned network with the removed channels zeroed after their BatchNorm
(randomised statistics; the BN-free VGGish_Net at the conv). CPU-sized widths here, real widths in the slow tier;
the E-PANNs setting reproduces the published E-PANNs layer shapes and parameter count."""

from __future__ import annotations

import re
import warnings

import pytest
import torch

pytest.importorskip("torch_pruning")
nets = pytest.importorskip("asc.nets")

from group_checks import masked_output, randomise  # noqa: E402

from asc.prune.group_criteria import RANKING, SETS  # noqa: E402
from asc.prune.group_surgery import prune_network  # noqa: E402

# CPU-sized constructor options and input (mel bands, frames) per family; EfficientAT has no width option.
SMALL = {
    "dcase2024": ({"base_channels": 8}, (256, 65)),
    "vggish_asc": ({"widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}, (64, 96)),
    "panns_cnn14": ({"widths": [4, 4, 8, 8, 8, 8]}, (64, 64)),
    "panns_cnn10": ({"widths": [4, 4, 8, 8]}, (64, 64)),
    "panns_resnet38": ({"widths": [4, 4, 8, 8], "blocks": [1, 2, 1, 1], "head": 16}, (64, 64)),
    # 16 frames: EfficientAT's strides bring them to one time step, as 32 (its real widths: half the compute)
    "efficientat_mn04": ({"n_classes": 10}, (128, 16)),
    "efficientat_mn10": ({"n_classes": 10}, (128, 16)),
}
REAL_INPUT = {  # real widths; frames only as long as the network needs (the widths are what is tested)
    "dcase2024": (256, 65),
    "vggish_asc": (64, 96),
    "panns_cnn14": (64, 32),  # five 2x2 poolings bring 32 frames to one step (16 are too few)
    "panns_cnn10": (64, 16),  # four 2x2 poolings bring 16 frames to one step (no criterion reads the input)
    "panns_resnet38": (64, 32),
    "efficientat_mn04": (128, 16),  # as in SMALL
    "efficientat_mn10": (128, 16),
}
CASES = [(c, r) for c in sorted(RANKING) for r in (0.25, 0.5, 0.75)] + [(c, None) for c in sorted(SETS)]
CASES += [("random", 0.5)]
# mn04 and mn10 run at their real widths (EfficientAT has no width option): every criterion at 50 %, l1 at
# 25/75 % too
FAST = [
    (name, c, r)
    for name in sorted(SMALL)
    for c, r in CASES
    if not name.startswith("efficientat_") or r in (0.5, None) or c == "l1"
]


@pytest.fixture(autouse=True)
def quiet_and_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Torch-Pruning's notes on unwrapped parameters
        yield
    torch.set_num_threads(threads)


def _check(
    name: str, options: dict, shape: tuple[int, int], criterion: str, ratio: float | None, batch: int = 2
) -> None:
    fam = nets.family_of({"name": name})
    torch.manual_seed(0)
    model = randomise(nets.build({"name": name, **options}))
    x = torch.randn(batch, *shape)
    before = model(x)
    cfg = {"name": criterion, "layers": ["*"], "ratio": ratio, "landmarks": 4, "reference": "l1"}
    pruned, info = prune_network(model, x, cfg, fam.ignored)
    out = pruned.eval()(x)
    assert out.shape == before.shape
    assert info["params"][1] < info["params"][0] and info["macs"][1] < info["macs"][0]
    assert info["groups"], "no prunable group"
    if criterion != "random":
        assert (out - masked_output(model, x, info["history"])).abs().max() <= 1e-5


@pytest.mark.parametrize(("name", "criterion", "ratio"), FAST)
def test_zoo_small(name, criterion, ratio):
    options, shape = SMALL[name]
    _check(name, options, shape, criterion, ratio)


# The EfficientAT cases the fast tier leaves out (every ranking criterion but l1 at 25 and 75 %): the slow tier
SLOW_EFFICIENTAT = [
    (name, c, r) for name in sorted(SMALL) if name.startswith("efficientat_") for c, r in CASES
    if (name, c, r) not in FAST
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("name", "criterion", "ratio"), SLOW_EFFICIENTAT)
def test_efficientat_every_ranking_at_25_and_75(name, criterion, ratio):
    options, shape = SMALL[name]
    _check(name, options, shape, criterion, ratio)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcase2024", "panns_cnn10"])
@pytest.mark.parametrize(("criterion", "ratio"), CASES)
def test_every_criterion_at_real_widths(name, criterion, ratio):
    """Every case at the published widths where it is cheap (measured on one thread: the DCASE 2024 net < 1.5 s a
    case, CNN10 ~1-2 s; VGGish_Net ~2 s, CNN14 6-18 s a case, so those run two cases in test_zoo_real_widths)."""
    _check(name, {}, REAL_INPUT[name], criterion, ratio)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_INPUT))
@pytest.mark.parametrize(("criterion", "ratio"), [("l1", 0.5), ("l2", 0.25)])
def test_zoo_real_widths(name, criterion, ratio):
    # one clip: the widths are under test, and eval-mode BatchNorm (randomised statistics) treats clips alone
    _check(name, {}, REAL_INPUT[name], criterion, ratio, batch=1)


@pytest.mark.slow
def test_e_panns_setting_gives_the_published_e_panns_shapes():
    """E-PANNs (Singh, Liu, Plumbley, Internoise 2023): CNN14 with 50 % of C7…C12 removed; its checkpoint has
    conv widths 64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 1024, 1024, fc1 1024 → 2048, and 23,205,839
    parameters without the torchlibrosa front-end constants (reference/networks.md §1.2)."""
    fam = nets.family_of({"name": "panns_cnn14"})
    model = nets.build({"name": "panns_cnn14", "n_classes": 527}).eval()
    cfg = {"name": "l2", "layers": [f"C{i}" for i in range(7, 13)], "ratio": 0.5}
    pruned, info = prune_network(model, torch.randn(1, *REAL_INPUT["panns_cnn14"]), cfg, fam.ignored)
    widths = [m.out_channels for m in pruned.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 1024, 1024]
    assert (pruned.fc1.in_features, pruned.fc1.out_features) == (1024, 2048)
    assert info["params"] == [80_753_615, 23_205_839]
    assert list(info["groups"]) == [f"C{i}" for i in range(7, 13)]


def test_a_pruned_zoo_network_round_trips_through_its_checkpoint(tmp_path):
    from asc.nets import checkpoint

    spec = {"name": "panns_resnet38", **SMALL["panns_resnet38"][0]}
    model = randomise(nets.build(spec))
    x = torch.randn(2, 64, 64)
    pruned, info = prune_network(
        model, x, {"name": "l1", "layers": ["*"], "ratio": 0.5}, ("bn0", "fc_audioset")
    )
    checkpoint.save(pruned, tmp_path / "m.pt", spec, info["history"])
    loaded, extra = checkpoint.load(tmp_path / "m.pt")
    assert torch.equal(loaded.eval()(x), pruned.eval()(x)) and extra["history"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_given_replays_another_criterions_kept_channels(name):
    """``given`` on every prunable group: the kept channels another criterion chose, named per member (coupled
    members agree), give the same network."""
    options, shape = SMALL[name]
    fam = nets.family_of({"name": name})
    model = randomise(nets.build({"name": name, **options}))
    x = torch.randn(2, *shape)
    ref, info = prune_network(model, x, {"name": "l2", "layers": ["*"], "ratio": 0.5}, fam.ignored)
    cfg = {"name": "given", "layers": ["*"], "kept": info["kept"]}
    pruned, given = prune_network(model, x, cfg, fam.ignored)
    assert given["kept"] == info["kept"] and given["params"][1] == info["params"][1]
    assert torch.equal(pruned.eval()(x), ref.eval()(x))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_average_runs_on_uncoupled_groups_and_is_refused_on_coupled_ones(name):
    """``average`` (Algorithm 1, then kept filters averaged with their closest partner) is defined on a layer
    alone: it prunes a network whose groups are all single convs and is refused on a coupled group, naming it."""
    from asc.prune.group_surgery import check_config

    options, shape = SMALL[name]
    fam = nets.family_of({"name": name})
    model = randomise(nets.build({"name": name, **options}))
    x = torch.randn(2, *shape)
    cfg = {"name": "average", "layers": ["*"]}
    ref, info = prune_network(model, x, {"name": "l1", "layers": ["*"], "ratio": 0.5}, fam.ignored)
    coupled = [label for label, members in info["groups"].items() if len(members) > 1]
    if coupled:
        with pytest.raises(
            ValueError, match=f"prune=average is not defined on coupled group {re.escape(coupled[0])}:"
        ):
            check_config(model, x, cfg, fam.ignored)
        return
    pruned, avg = prune_network(model, x, cfg, fam.ignored)
    assert pruned.eval()(x).shape == model(x).shape
    assert avg["params"][1] < avg["params"][0] and avg["macs"][1] < avg["macs"][0]


def test_module_path_globs_and_per_layer_ratios_on_a_zoo_network():
    """``prune.layers`` by module path glob (``conv_block5.*`` is CNN14's C9 and C10, the n-th prunable convs in
    forward order) and a per-layer ratio beside the config's."""
    fam = nets.family_of({"name": "panns_cnn14"})
    model = randomise(nets.build({"name": "panns_cnn14", **SMALL["panns_cnn14"][0]}))
    x = torch.randn(2, *SMALL["panns_cnn14"][1])
    cfg = {"name": "l1", "layers": ["conv_block5.*"], "ratio": 0.5, "per_layer_ratio": {"C9": 0.25}}
    pruned, info = prune_network(model, x, cfg, fam.ignored)
    assert info["convs"]["C9"] == "conv_block5.conv1" and info["convs"]["C10"] == "conv_block5.conv2"
    assert list(info["groups"]) == ["C9", "C10"] and info["widths"] == {"C9": 6, "C10": 4}
    assert pruned.conv_block5.conv1.out_channels == 6 and pruned.conv_block4.conv2.out_channels == 8
