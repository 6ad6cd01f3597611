"""Issue 27 §3, iterative pruning: ``prune.schedule`` = k steps to a criterion's target kept counts (prune → short
fine-tuning → prune …), each step a prune artifact keyed by its upstream step (asc/prune/schedule.py,
asc/pipeline/stages/prune_schedule.py); k = 1 is the one-shot path with its keys."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from config_fixtures import TINY_DEMO_DATA, composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.prune import schedule
from asc.report.rows import pooling_key, step_pooling_key

L1 = ("prune=l1", "prune.ratio=0.5")


def _stage(steps, stage):
    return [s for s in steps if s.stage == stage]


def test_schedule_1_is_the_one_shot_path_with_its_keys() -> None:
    one = make_plan(composed(*L1))
    assert [s.key for s in make_plan(composed(*L1, "+prune.schedule=1"))] == [s.key for s in one]
    assert all("schedule" not in s.config for s in _stage(one, "prune"))


def test_three_steps_chain_each_on_the_one_before() -> None:
    steps = make_plan(composed(*L1, "+prune.schedule=3"))
    pruned, tuned = _stage(steps, "prune"), _stage(steps, "finetune")
    assert [s.label for s in pruned] == [f"l1 C1+C2+C3 ratio=0.5 step {s}/3" for s in (1, 2, 3)]
    assert [u.stage for u in pruned[0].upstream] == ["train"]
    for before, after in zip(
        pruned, pruned[1:], strict=False
    ):  # step s reads step s-1 and the data it tunes on
        assert after.up("prune") is before and {u.stage for u in after.upstream} == {
            "prune",
            "features",
            "index",
        }
        assert after.config["schedule"]["finetune"]["epochs"] == 4 // 3  # the demo's finetune.epochs // k
    assert {t.up("prune").id for t in tuned} == {pruned[-1].id}  # fine-tuning starts from the last step
    one_shot = {s.key for s in make_plan(composed(*L1)) if s.stage in ("prune", "finetune")}
    assert one_shot.isdisjoint(s.key for s in pruned + tuned)
    longer = make_plan(composed(*L1, "+prune.schedule=3", "+prune.step_epochs=2"))
    assert _stage(longer, "prune")[0].key == pruned[0].key  # step 1 trains nothing
    assert _stage(longer, "prune")[1].key != pruned[1].key


def test_a_runs_block_steps_its_criterion_beside_one_shot_ones() -> None:
    runs = "runs=[{criteria:[l1,l2],layer_sets:null,fractions:[1.0]}]"
    steps = make_plan(
        composed(runs, "criteria.l1.ratio=0.5", "criteria.l2.ratio=0.5", "+criteria.l1.schedule=2")
    )
    assert [s.label for s in _stage(steps, "prune")] == [
        "l1 C1+C2+C3 ratio=0.5 step 1/2",
        "l1 C1+C2+C3 ratio=0.5 step 2/2",
        "l2 C1+C2+C3 ratio=0.5",
    ]


def test_the_pooling_key_keeps_k_step_rows_apart() -> None:
    k3 = make_plan(composed(*L1, "+prune.schedule=3"))
    k1 = make_plan(composed(*L1))
    for stage in ("prune", "finetune"):
        keys3 = {step_pooling_key(s) for s in _stage(k3, stage)}
        assert keys3.isdisjoint(step_pooling_key(s) for s in _stage(k1, stage))
    assert len({step_pooling_key(s) for s in _stage(k3, "prune")}) == 3
    row = {
        "stage": "finetune", "criterion": "l1", "layers": "C1+C2+C3", "ratio": "0.5", "fraction": "1.0", "repeat": "0"
    }  # fmt: skip
    assert pooling_key(row) == pooling_key({**row, "prune_steps": "1", "prune_step": "1"})  # older tables
    assert pooling_key(row) != pooling_key({**row, "prune_steps": "3", "prune_step": "3"})
    (last,) = [s for s in _stage(k3, "finetune") if s.label.endswith("1 #0") and len(s.upstream) == 3]
    spec = '{"widths": [16, 16, 32]}'  # a DCASE-family row: the network family is part of the key
    assert step_pooling_key(last) == pooling_key(
        {**row, "baseline_seed": "0", "prune_steps": 3, "prune_step": 3, "model_spec": spec}
    )


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("+prune.schedule=0",), "prune.schedule=0: the number of pruning steps"),
        (("+prune.schedule=2.5",), "prune.schedule=2.5"),
        (("+prune.schedule=true",), "prune.schedule=True"),
        (("+prune.schedule=3", "+prune.step_epochs=0"), "prune.step_epochs=0"),
        (("+prune.schedule=3", "+prune.step_fraction=1.5"), "prune.step_fraction=1.5"),
        (("+prune.step_epochs=2",), "has no effect with prune.schedule=1"),
        (("prune=given", "+prune.schedule=2"), "criterion given fixes the kept indices"),
        (("prune=random", "+prune.schedule=2"), "random takes the widths of reference=cosine"),
        (("+criteria.l1.schedule=-1",), "criteria.l1.schedule=-1"),
    ],
)
def test_a_schedule_asc_cannot_run_is_refused_at_planning_in_one_line(overrides, says) -> None:
    base = L1 if not any(o.startswith("prune=") for o in overrides) else ()
    if overrides[0].startswith("+criteria"):
        base = ("runs=[{criteria:[l1],layer_sets:null,fractions:[1.0]}]", "criteria.l1.ratio=0.5")
    with pytest.raises(ConfigError) as err:
        make_plan(composed(*base, *overrides))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_schedule_without_a_criterion_says_where_it_goes() -> None:
    """``+prune.schedule=3`` with no ``prune=<name>``: one line naming both places the option can go."""
    from asc.pipeline.validate import validate

    with pytest.raises(ConfigError) as err:
        validate(composed("+prune.schedule=3"))
    said = str(err.value)
    assert said.startswith("prune.schedule=3 has no criterion to apply to") and "\n" not in said
    assert "prune=l1 prune.ratio=0.5 +prune.schedule=3" in said and "+criteria.l1.schedule=" in said


def test_a_step_fraction_that_empties_a_stratum_is_refused_before_building(tmp_path: Path) -> None:
    from asc.core.errors import InputError
    from asc.pipeline.plan import check_plan

    paths = [f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")]
    for share, refused in (("0.01", True), ("0.5", False)):
        cfg = composed(*L1, "+prune.schedule=2", f"+prune.step_fraction={share}", *paths)
        if refused:
            with pytest.raises(
                InputError, match=r"^prune.step_fraction=0.01: fraction 0.01 leaves the smallest"
            ):
                check_plan(make_plan(cfg), cfg, upto="prune")
        else:
            check_plan(make_plan(cfg), cfg, upto="prune")


def test_random_steps_with_a_ratio_reference() -> None:
    steps = make_plan(composed("prune=random", "prune.reference=l1", "+prune.ratio=0.5", "+prune.schedule=2"))
    assert len(_stage(steps, "prune")) == 2


def test_geometric_keep_fractions() -> None:
    counts, previous = [], 16
    for s in (1, 2, 3):
        previous = schedule.kept_count(16, 8, s, 3, previous)
        counts.append(previous)
    assert counts == [13, 10, 8]  # 16·0.5^(1/3) = 12.7, 16·0.5^(2/3) = 10.1, the one-shot target
    assert [schedule.kept_count(4, 3, s, 3, 4) for s in (1, 2, 3)] == [4, 3, 3]  # never below the target
    for n, keep in [(16, 13), (13, 10), (7, 1), (5, 5)]:  # the criteria's rounding keeps exactly that count
        ratio = schedule.step_ratio(n, keep)
        assert n - int(ratio * n + 0.5) == keep
    assert schedule.compose({"C1": [1, 3, 5, 7]}, {"C1": [0, 2], "C2": [4]}) == {"C1": [1, 5], "C2": [4]}


def test_planning_a_schedule_imports_no_torch() -> None:
    code = (
        "import sys; from asc.pipeline.plan import make_plan; from config_fixtures import composed; "
        "make_plan(composed('prune=l1', 'prune.ratio=0.5', '+prune.schedule=3')); "
        "print(sorted(m for m in ('torch', 'librosa', 'numba') if m in sys.modules))"
    )
    here = Path(__file__).resolve().parent  # the tests' folder: config_fixtures imports from there
    out = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _without_tuning(model, pcfg, k, family, x):
    """The k steps of :func:`asc.pipeline.stages.prune_schedule.cut` with no fine-tuning between them."""
    from asc.pipeline.stages.prune_schedule import cut

    info = None
    for s in range(1, k + 1):
        model, info = cut(model, pcfg, s, k, family, x, info)
        info = json.loads(json.dumps(info))  # as the next step reads it: info.json
    return model, info


RATIO_CRITERIA = ["l1", "l2", "fpgm", "gm", "operator_norm", "centrality", "random"]


@pytest.mark.parametrize("name", RATIO_CRITERIA)
def test_the_dcase_family_steps_to_the_one_shot_widths(name: str, one_thread) -> None:
    from model_fixtures import randomised_model

    from asc.prune import prune_model

    baseline = randomised_model()
    pcfg = {"name": name, "layers": ["C1", "C2", "C3"], "ratio": 0.5, "reference": "l1", "seed": 0}
    model, info = _without_tuning(baseline, pcfg, 3, None, None)
    _, shot = prune_model(baseline, pcfg)
    assert model.spec["widths"] == shot["widths"] and info["widths"] == shot["widths"]
    assert info["schedule"]["kept_counts"] == {k: len(v) for k, v in shot["kept"].items()}
    assert info["l1_norms"] == shot["l1_norms"]  # the row's norms stay the unpruned baseline's
    for layer, kept in info["kept"].items():  # the baseline's indices, distinct and in range
        assert len(set(kept)) == len(kept) and set(kept) <= set(range(len(shot["l1_norms"][layer])))
    if name in ("l1", "l2"):  # C1 reads the unchanged input: its norms rank alike at every step
        assert info["kept"]["C1"] == shot["kept"]["C1"]


@pytest.mark.parametrize("name", ["l2", "centrality", "random"])  # a ranking, a similarity, the control
def test_coupled_groups_step_and_the_history_replays_every_step(name: str, one_thread) -> None:
    import torch
    from group_checks import randomise
    from group_nets import ResidualNet

    from asc.nets.history import replay

    family = SimpleNamespace(exact_surgery=False, ignored=("head",))
    baseline = randomise(ResidualNet(), 0)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    pcfg = {"name": name, "layers": ["*"], "ratio": 0.5, "reference": "l1", "seed": 0}
    model, info = _without_tuning(baseline, pcfg, 3, family, x)
    assert any(len(names) > 1 for names in info["groups"].values())  # a coupled group stepped as one unit
    assert info["schedule"]["kept_counts"] == info["schedule"]["target"]
    rebuilt = replay(randomise(ResidualNet(), 0), info["history"], x)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))


@pytest.mark.slow
def test_three_steps_run_resume_after_a_kill_and_carry_the_step(tmp_path: Path, shared_data: Path) -> None:
    """k = 3 on the tiny demo; the third step and what follows are lost (a kill mid-way); the rerun reuses steps
    1 and 2 (not rebuilt) and builds step 3 again."""
    import asc
    from asc.app.api import compose

    args = [
        *TINY_DEMO_DATA,
        "train.epochs=1",
        "train.select_after=0",
        "finetune.epochs=1",
        *L1,
        "+prune.schedule=3",
        # the schedule's path, not the network's accuracy: half the widths still leave 3 strictly nested steps
        "model.widths=[8,8,16]",
        "runs=[{criteria:[l1],layer_sets:null,fractions:[1.0],repeats:1}]",
        "quantise.enabled=false",
        "stage=finetune",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    asc.run(args)
    steps = _stage(make_plan(compose(args)), "prune")
    folders = [tmp_path / "store" / "prune" / s.key for s in steps]
    rows = [json.loads((f / "row.json").read_text()) for f in folders]
    assert [(r["prune_steps"], r["prune_step"]) for r in rows] == [(3, 1), (3, 2), (3, 3)]
    assert [r["epochs"] for r in rows] == [0, 1, 1]  # the short fine-tuning before steps 2 and 3
    infos = [json.loads((f / "info.json").read_text()) for f in folders]
    for before, after in zip(infos, infos[1:], strict=False):  # kept indices of the baseline, nested
        assert all(set(after["kept"][k]) < set(before["kept"][k]) for k in after["kept"])
    (tuned,) = asc.read_results(tmp_path / "results").query("stage == 'finetune'").itertuples()
    assert (tuned.prune_steps, tuned.prune_step) == (3, 3) and tuned.params_torch == rows[-1]["params_torch"]

    import shutil

    stamps = [(f / "model.pt").stat().st_mtime_ns for f in folders[:2]]
    shutil.rmtree(folders[2])  # killed during step 3: neither it nor its fine-tuning was stored
    shutil.rmtree(tmp_path / "store" / "finetune")
    asc.run(args)
    assert [(f / "model.pt").stat().st_mtime_ns for f in folders[:2]] == stamps  # reused, not rebuilt
    assert json.loads((folders[2] / "info.json").read_text())["kept"] == infos[2]["kept"]  # rebuilt alike


class _Killed(Exception):
    """The job dying mid-way through a schedule step's short fine-tuning."""


# The DCASE family trains fused (asc/training/train.py), a zoo network one by one (asc/training/train_plain.py)
TRAINERS = {
    "dcase21": ([], "asc.training.train.save_state", lambda args: args[1].epoch),
    "dcase2024": (
        ["model=dcase2024", "dataset=demo1s", "dataset.recording_seconds=2", "model.base_channels=8"],
        "asc.training.plain_state.save",
        lambda args: len(args[4]["history"]),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(TRAINERS))
def test_a_step_killed_during_its_short_fine_tuning_resumes_it(
    net, tmp_path, shared_data, monkeypatch, caplog
) -> None:
    """k = 2 with 2 short fine-tuning epochs; the job dies after the first of them: the rerun resumes that
    fine-tuning from its checkpoint in the step's work folder (after epoch 1/2), not from scratch."""
    import importlib

    import asc

    options, target, epoch_of = TRAINERS[net]
    args = [
        *options,
        *TINY_DEMO_DATA,
        "train.epochs=1",
        "train.select_after=0",
        "finetune.select_after=0",
        *L1,
        "+prune.schedule=2",
        "+prune.step_epochs=2",
        "runtime.latency.measure=false",
        "stage=prune",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    if net == "dcase21":
        args.append("model.widths=[4,4,8]")
    module, name = target.rsplit(".", 1)
    original = getattr(importlib.import_module(module), name)

    def dies(*a, **k):
        original(*a, **k)
        if a[0].label.endswith("step 2/2 fine-tuning") and epoch_of(a) == 1:
            raise _Killed

    monkeypatch.setattr(target, dies)
    with pytest.raises(_Killed):
        asc.run(args)
    (left,) = (tmp_path / "store" / "prune").glob("*.partial/step_finetune/last.pt")
    monkeypatch.setattr(target, original)
    with caplog.at_level("INFO"):
        asc.run(args)
    assert f"resuming from {left.parent.parent}" in caplog.text  # the step's work folder, adopted
    assert re.search(r"step 2/2 fine-tuning: resuming from \S+last.pt after epoch 1/2", caplog.text)
    (last,) = [s for s in _stage(make_plan(composed(*args)), "prune") if s.label.endswith("2/2")]
    row = json.loads((tmp_path / "store" / "prune" / last.key / "row.json").read_text())
    assert (row["prune_step"], row["epochs"]) == (2, 2)
    assert not list((tmp_path / "store" / "prune").glob("*.partial"))
