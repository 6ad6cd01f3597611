"""Pruning history (asc/nets/history.py): a pruned stand-in is rebuilt from a fresh one by replay and loads
with weights_only=True; a history that does not fit the architecture is refused in one line."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_pruning")

from group_checks import randomise  # noqa: E402
from group_nets import DepthwiseNet, PlainVGG, ResidualNet  # noqa: E402

from asc.core.errors import InputError  # noqa: E402
from asc.nets.history import replay  # noqa: E402
from asc.prune.group_surgery import prune_network  # noqa: E402

X = torch.randn(1, 1, 16, 16)


@pytest.mark.parametrize("cls", [ResidualNet, DepthwiseNet, PlainVGG])
def test_replay_rebuilds_a_checkpoint(cls, tmp_path):
    torch.manual_seed(0)
    pruned, info = prune_network(
        randomise(cls()), X, {"name": "l2", "ratio": 0.5, "layers": ["*"], "depthwise": True}
    )
    torch.save(
        {"arch": cls.__name__, "history": info["history"], "state_dict": pruned.state_dict()},
        tmp_path / "m.pt",
    )
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    rebuilt = replay(cls(), blob["history"], X)
    rebuilt.load_state_dict(blob["state_dict"])
    assert torch.equal(rebuilt.eval()(X), pruned.eval()(X))


def test_a_history_of_another_architecture_is_refused():
    _, info = prune_network(ResidualNet(), X, {"name": "l1", "ratio": 0.5, "layers": ["*"]}, ("head",))
    with pytest.raises(
        InputError, match="entry 0 cuts '[a-z0-9.]+', which is no prunable layer of this PlainVGG"
    ) as err:
        replay(PlainVGG(), info["history"], X)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ([("features.0", True, [0, 99])], "indices \\[99\\] outside \\[0, 8\\) of 'features.0'"),
        ([("features.0", True, list(range(8)))], "removes 8 of its 8 channels"),
        ([("features.0", "yes", [0])], "entry 0 is"),
        ("features.0", "not a list"),
    ],
)
def test_misfit_entries_are_refused(history, match):
    with pytest.raises(InputError, match=match):
        replay(PlainVGG(), history, X)
