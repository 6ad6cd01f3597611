"""Issue 27 §3, iterative pruning for the criteria that decide their own kept count (Algorithm 1: cosine, chebyshev,
average, nystrom): each of the k steps applies the criterion's own rule to the filters still there, on the network
the short fine-tuning left (asc/prune/schedule.py); ``given`` and ``random`` with such a reference stay refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from config_fixtures import TINY_DEMO_DATA, composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.prune import schedule

OWN = ["cosine", "chebyshev", "average", "nystrom"]


def _pruned(steps):
    return [s for s in steps if s.stage == "prune"]


@pytest.mark.parametrize("name", OWN)
def test_an_own_count_criterion_plans_its_steps_keyed_apart(name: str) -> None:
    one = make_plan(composed(f"prune={name}"))
    assert [s.key for s in make_plan(composed(f"prune={name}", "+prune.schedule=1"))] == [s.key for s in one]
    steps = _pruned(make_plan(composed(f"prune={name}", "+prune.schedule=2")))
    assert [s.label for s in steps] == [f"{name} C1+C2+C3 step {s}/2" for s in (1, 2)]
    assert [s.config["schedule"]["spacing"] for s in steps] == ["criterion", "criterion"]
    assert steps[1].up("prune") is steps[0] and "finetune" in steps[1].config["schedule"]
    assert {s.key for s in _pruned(one)}.isdisjoint(s.key for s in steps)


def test_the_spacing_follows_the_criterion() -> None:
    assert [schedule.spacing_of({"name": n}) for n in ("cosine", "nystrom", "l1", "random")] == [
        "criterion",
        "criterion",
        "geometric",
        "geometric",
    ]
    assert schedule.spacing_of({"name": "l1", "ratio": None, "match": "cosine"}) == "geometric"


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("prune=given", "+prune.schedule=2"), "prune.schedule=2: criterion given fixes the kept indices"),
        (("prune=random", "+prune.schedule=2"), "criterion random takes the widths of reference=cosine"),
        (("prune=random", "prune.reference=nystrom", "+prune.schedule=3"), "reference=nystrom"),
    ],
)
def test_given_and_random_with_an_own_count_reference_stay_refused(overrides, says) -> None:
    with pytest.raises(ConfigError) as err:
        make_plan(composed(*overrides))
    assert says in str(err.value) and "\n" not in str(err.value)
    assert "schedule=1" in str(err.value)  # the fix


def test_the_disk_check_plans_an_own_count_schedule(tmp_path: Path) -> None:
    """The disk estimates take the unpruned widths for its steps (an upper bound: the counts are decided as the
    steps run)."""
    from asc.pipeline.plan import check_plan

    paths = [f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")]
    cfg = composed("prune=cosine", "+prune.schedule=2", *paths)
    check_plan(make_plan(cfg), cfg, upto="finetune")


def _jitter(model, seed: int):
    """A stand-in for the short fine-tuning between steps: every weight moved a little."""
    import torch

    moved = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(0.3 * p.std() * torch.randn(p.shape, generator=g))
    return moved


@pytest.mark.parametrize("name", OWN)
def test_each_step_is_the_criterion_on_the_survivors(name: str, one_thread) -> None:
    """Step 1 is the one-shot pruning of the baseline; step 2 (and 3) is the criterion called directly on each
    pruned layer of the (moved) network it gets, its kept indices composed back to the baseline's."""
    from model_fixtures import randomised_model

    from asc.pipeline.stages.prune_schedule import cut
    from asc.prune import lookup, prune_model

    baseline = randomised_model()
    pcfg = {"name": name, "layers": ["C1", "C2", "C3"]}
    model, info = cut(baseline, pcfg, 1, 3, None, None)
    _, shot = prune_model(baseline, pcfg)
    assert info["kept"] == shot["kept"] and info["schedule"]["target"] is None
    assert info["schedule"]["original"] == {c: len(v) for c, v in shot["l1_norms"].items()}
    for step in (2, 3):
        before = json.loads(json.dumps(info))  # as the next step reads it: info.json
        current = _jitter(model, step)
        direct = {
            c: lookup(name)(conv.weight.detach(), {"layer": c}).kept for c, conv in current.convs().items()
        }
        model, info = cut(current, pcfg, step, 3, None, None, before)
        assert info["kept"] == schedule.compose(before["kept"], direct)
        assert info["schedule"]["kept_counts"] == {c: len(k) for c, k in direct.items()}
        assert info["schedule"]["original"] == before["schedule"]["original"]
        assert info["l1_norms"] == shot["l1_norms"]  # the row's norms stay the unpruned baseline's
        for c, kept in info["kept"].items():  # nested in the previous step's, at least half of them
            assert set(kept) <= set(before["kept"][c]) and 2 * len(kept) >= len(before["kept"][c])
    assert model.spec["widths"] == [len(k) for k in info["kept"].values()]


def test_coupled_groups_step_by_their_own_count_and_the_history_replays(one_thread) -> None:
    import torch
    from group_checks import randomise
    from group_nets import ResidualNet

    from asc.nets.history import replay
    from asc.pipeline.stages.prune_schedule import cut
    from asc.prune import prune_any

    family = SimpleNamespace(exact_surgery=False, ignored=("head",))
    baseline = randomise(ResidualNet(), 0)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    pcfg = {"name": "cosine", "layers": ["*"]}
    model, info = cut(baseline, pcfg, 1, 2, family, x)
    before = json.loads(json.dumps(info))
    current = _jitter(model, 2)
    _, direct = prune_any(current, pcfg, family, x)
    model, info = cut(current, pcfg, 2, 2, family, x, before)
    assert any(len(names) > 1 for names in info["groups"].values())  # a coupled group stepped as one unit
    assert info["kept"] == schedule.compose(before["kept"], direct["kept"])
    rebuilt = replay(randomise(ResidualNet(), 0), info["history"], x)
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))


@pytest.mark.slow
def test_cosine_in_two_steps_runs_on_the_demo_and_step_2_is_algorithm_1_on_the_tuned_network(
    tmp_path: Path, shared_data: Path, monkeypatch
) -> None:
    """cosine with schedule=2 end to end (prune, short fine-tune, prune, fine-tune); the network step 1 hands on
    after its short fine-tuning is caught, and step 2's kept set is Algorithm 1 called on its weights."""
    import asc
    from asc.app.api import compose
    from asc.pipeline.stages import prune_schedule
    from asc.prune import lookup

    tuned = []
    original = prune_schedule.short_finetune

    def caught(*a, **k):
        model, summary = original(*a, **k)
        tuned.append(copy.deepcopy(model))
        return model, summary

    monkeypatch.setattr(prune_schedule, "short_finetune", caught)
    args = [
        *TINY_DEMO_DATA,
        "model.widths=[8,8,16]",
        "train.epochs=1",
        "train.select_after=0",
        "finetune.epochs=1",
        "prune=cosine",
        "+prune.schedule=2",
        "runs=[{criteria:[cosine],layer_sets:null,fractions:[1.0],repeats:1}]",
        "quantise.enabled=false",
        "runtime.latency.measure=false",
        "stage=finetune",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    asc.run(args)
    folders = [tmp_path / "store" / "prune" / s.key for s in _pruned(make_plan(compose(args)))]
    rows = [json.loads((f / "row.json").read_text()) for f in folders]
    assert [(r["prune_steps"], r["prune_step"]) for r in rows] == [(2, 1), (2, 2)]
    assert [r["epochs"] for r in rows] == [0, 1]  # the short fine-tuning before step 2
    first, second = (json.loads((f / "info.json").read_text()) for f in folders)
    (net,) = tuned
    direct = {c: lookup("cosine")(conv.weight.detach(), {}).kept for c, conv in net.convs().items()}
    assert second["kept"] == schedule.compose(first["kept"], direct)
    assert second["schedule"]["kept_counts"] == {c: len(k) for c, k in direct.items()}
    (row,) = asc.read_results(tmp_path / "results").query("stage == 'finetune'").itertuples()
    assert (row.prune_steps, row.prune_step) == (2, 2) and row.params_torch == rows[-1]["params_torch"]
