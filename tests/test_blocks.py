"""Issue 27 §4's latency-aware option: ``prune.round_to_block`` rounds a ratio criterion's kept counts to a channel
block (asc/prune/blocks.py), keyed; null is no rounding, the same artifact as leaving it out."""

from __future__ import annotations

import pytest
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.pipeline.validate import validate
from asc.prune.blocks import to_block


def _pruned(*overrides: str) -> list:
    cfg = composed(*overrides)
    validate(cfg)
    return [s for s in make_plan(cfg) if s.stage == "prune"]


def test_counts_round_half_up_to_a_block_within_one_block_and_the_width() -> None:
    assert [to_block(k, 32, 8) for k in (1, 4, 11, 12, 22, 28, 32)] == [8, 8, 8, 16, 24, 32, 32]
    assert to_block(3, 6, 8) == 6  # a layer narrower than the block stays whole
    assert to_block(11, 16, None) == 11


def test_the_pruned_network_has_rounded_widths() -> None:
    from asc.nets.model import build_model
    from asc.prune.apply import prune_model

    cfg = {"name": "l1", "layers": ["C1", "C2", "C3"], "ratio": 0.3}
    assert prune_model(build_model(), cfg)[1]["widths"] == [11, 11, 22]
    assert prune_model(build_model(), {**cfg, "round_to_block": 8})[1]["widths"] == [8, 8, 24]


def test_the_block_is_keyed_and_null_is_no_rounding() -> None:
    plain = _pruned("prune=l1", "prune.ratio=0.3")[0]
    assert _pruned("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=null")[0].key == plain.key
    blocked = _pruned("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=8")[0]
    assert blocked.key != plain.key and blocked.config["round_to_block"] == 8


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=0"), "prune.round_to_block=0"),
        (("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=eight"), "prune.round_to_block='eight'"),
        (("prune=cosine", "+prune.round_to_block=8"), "cosine (it decides its own kept count)"),
        (("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=8", "+prune.schedule=3"), "schedule=3"),
    ],
)
def test_a_block_asc_cannot_apply_is_refused_at_planning_in_one_line(overrides, says) -> None:
    with pytest.raises(ConfigError) as err:
        _pruned(*overrides)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_network_pruned_by_dependency_graph_surgery_has_rounded_widths_too() -> None:
    import torch

    from asc import nets
    from asc.prune.group_surgery import prune_network

    torch.manual_seed(0)
    model = nets.build({"name": "panns_cnn10", "widths": [8, 8, 16, 16]}).eval()
    cfg = {"name": "l1", "layers": ["C2", "C6"], "ratio": 0.4, "round_to_block": 4}
    pruned, _ = prune_network(
        model, torch.randn(1, 64, 64), cfg, nets.family_of({"name": "panns_cnn10"}).ignored
    )
    widths = [m.out_channels for m in pruned.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [8, 4, 8, 8, 16, 12, 16, 16]  # C2: 8 → 5 → 4; C6: 16 → 10 → 12 (unrounded: 5 and 10)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("prune.ratio=0.3", "+prune.round_to_block=8"), "C1 keeps 4 of 4, C2 keeps 4 of 4, C3 keeps 8 of 8"),
        (("prune.ratio=0.1", "prune.layers=[C1]"), "ratio 0.1 removes no filter (C1 keeps 4 of 4)"),
    ],
)
def test_a_pruning_that_removes_no_filter_is_refused_at_planning(overrides, says) -> None:
    """The "pruned" network would be the baseline under another key (a fresh user's report): refused by the prune
    stage's check, naming each layer's kept count, before anything is built."""
    from asc.pipeline.stages import prune

    cfg = composed("prune=l1", "model.widths=[4,4,8]", "runs=[{criteria:[l1],fractions:[1.0]}]", *overrides)
    validate(cfg)
    steps = [s for s in make_plan(cfg) if s.stage == "prune"]
    with pytest.raises(ConfigError) as err:
        prune.check(steps, cfg)
    assert says in str(err.value) and "\n" not in str(err.value)
    prune.check(  # one layer that loses a filter is enough
        [
            s
            for s in make_plan(composed("prune=l1", "model.widths=[4,4,8]", "prune.ratio=0.2"))
            if s.stage == "prune"
        ],
        composed("prune=l1", "model.widths=[4,4,8]", "prune.ratio=0.2"),
    )
