"""Issue 27 §4, a target budget from a sensitivity scan: ``+prune.budget.macs=`` / ``params_kb=`` with
``prune.budget.scan=<results.csv>`` choose per-layer ratios at planning (asc/prune/budget.py), greedily by accuracy
lost per MAC (or parameter byte) saved; the choice, not the budget, is the artifact key."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.pipeline.validate import validate
from asc.prune.budget import dcase_cost, kept

# accuracy of l1 after fine-tuning per layer alone and ratio: C1 fragile, C2 robust, C3 between
SCAN = {
    "C1": {0.25: 0.50, 0.5: 0.40, 0.75: 0.30},
    "C2": {0.25: 0.59, 0.5: 0.57, 0.75: 0.50},
    "C3": {0.25: 0.595, 0.5: 0.58, 0.75: 0.55},
}


NOT_THE_SCAN = (  # rows of a scan point that do not count: a smaller fraction, KD, QAT, an iterative step
    {"stage": "finetune", "fraction": 0.5},
    {"stage": "finetune", "fraction": 1.0, "teacher": "baseline seed 0"},
    {"stage": "finetune", "fraction": 1.0, "qat": True},
    {"stage": "prune", "prune_step": 1, "prune_steps": 3},
)
DEMO = {"widths": [16, 16, 32]}  # the default job's network (conf/model/dcase21.yaml at the demo's widths)
FIELDS = ["stage", "criterion", "layers", "ratio", "fraction", "teacher", "qat", "prune_step", "prune_steps"]


def scan_file(
    tmp: Path, *, layers=("C1", "C2", "C3"), tuned: bool = True, dataset: str = "demo", spec: Any = DEMO
) -> Path:
    """A results.csv of a sensitivity scan of l1 (baseline 60 %), fine-tuned twice per point (or not at all)."""
    baseline = {"stage": "baseline", "criterion": "none", "layers": "", "ratio": "", "accuracy": 0.6}
    rows = [{**baseline, "dataset": dataset, "model_spec": json.dumps(spec)}]
    for layer in layers:
        for ratio, acc in SCAN[layer].items():
            common = {"criterion": "l1", "layers": layer, "ratio": ratio}
            rows.append({"stage": "prune", "accuracy": acc - 0.2, **common})  # before: the same ranking
            for r in range(2 if tuned else 0):
                rows.append(
                    {"stage": "finetune", "fraction": 1.0, "accuracy": acc + 0.01 * (2 * r - 1), **common}
                )
            rows += [{**other, "accuracy": 0.0, **common} for other in NOT_THE_SCAN]
    rows.append({"stage": "prune", "criterion": "fpgm", "layers": "C1", "ratio": 0.5, "accuracy": 0.0})
    path = tmp / "results.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, [*FIELDS, "accuracy", "dataset", "model_spec"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _pruned(*overrides: str) -> list:
    cfg = composed(*overrides)
    validate(cfg)
    return [s for s in make_plan(cfg) if s.stage == "prune"]


def test_the_cost_from_widths_is_the_measured_one() -> None:
    from asc.nets.complexity import complexity
    from asc.nets.model import build_model

    assert dcase_cost({}) == {"params_keras": 46246, "macs": 286637800}
    from asc.prune import budget
    from asc.report import cost

    assert (budget.KB, budget.BYTES_PER_PARAM) == (cost.KB, cost.BYTES_PER_PARAM)  # the DCASE rule's units
    for spec in ({"widths": [12, 8, 24]}, composed("model=dcase22")["model"]):
        spec = {k: v for k, v in spec.items() if k != "name"}
        measured = complexity(build_model(spec))
        assert dcase_cost(spec) == {k: measured[k] for k in ("params_keras", "macs")}
    import torch

    from asc.prune.criteria import n_keep

    for n in (16, 32, 7):
        for r in (0.1, 0.25, 0.3, 0.5, 0.75, 0.9):
            assert kept(n, r) == n_keep(torch.zeros(n, 1, 1, 1), {"ratio": r})  # the criteria's count


def test_a_macs_budget_raises_the_cheapest_layer_first_and_keys_the_choice(tmp_path) -> None:
    scan = scan_file(tmp_path)
    pruned = _pruned("prune=l1", "+prune.budget.macs=230000000", f"+prune.budget.scan={scan}")
    assert len(pruned) == 1 and "budget" not in pruned[0].config
    assert pruned[0].config["per_layer_ratio"] == {
        "C1": 0.0,
        "C2": 0.25,
        "C3": 0.0,
    }  # C2: most MACs, least loss
    explicit = _pruned(
        "prune=l1",
        *(f"++prune.per_layer_ratio.{k}={v}" for k, v in {"C1": 0.0, "C2": 0.25, "C3": 0.0}.items()),
    )
    assert explicit[0].key == pruned[0].key  # the choice is the key: the same artifact as when written out
    tighter = _pruned("prune=l1", "+prune.budget.macs=100000000", f"+prune.budget.scan={scan}")[0]
    ratios = tighter.config["per_layer_ratio"]
    widths = [kept(w, ratios[n]) for w, n in zip((16, 16, 32), ("C1", "C2", "C3"), strict=True)]
    assert dcase_cost({"widths": widths})["macs"] <= 100_000_000 and ratios["C2"] == 0.75


def test_a_macs_budget_in_float_notation_is_the_same_budget(tmp_path) -> None:
    """``1.5e7`` is a float to Hydra: a whole one is that many MACs, not refused as "expected an integer"."""
    scan = scan_file(tmp_path)
    written = _pruned("prune=l1", "+prune.budget.macs=230000000", f"+prune.budget.scan={scan}")
    assert (
        _pruned("prune=l1", "+prune.budget.macs=2.3e8", f"+prune.budget.scan={scan}")[0].key == written[0].key
    )


@pytest.mark.parametrize(
    ("dataset", "spec", "says"),
    [
        ("demo16k", None, "the scan is of an unrecorded network on demo16k, this job widths [16, 16, 32]"),
        ("demo@1a2b3c4d", {"widths": [8, 8, 8]}, "the scan is of widths [8, 8, 8], input 40x500"),
        (
            "",
            {"name": "dcase2024"},
            "the scan is of model=dcase2024 on unrecorded data, this job widths [16,",
        ),
    ],
)
def test_a_scan_of_another_network_or_data_is_refused_naming_both(tmp_path, dataset, spec, says) -> None:
    scan = scan_file(tmp_path, dataset=dataset, spec=spec)
    with pytest.raises(ConfigError) as err:
        _pruned("prune=l1", "+prune.budget.macs=230000000", f"+prune.budget.scan={scan}")
    message = str(err.value)
    assert message.startswith("prune.budget.scan=") and says in message and "on demo (scan" in message
    assert "\n" not in message


def test_a_memory_budget_at_a_precision_and_a_scan_without_fine_tuning(tmp_path) -> None:
    scan = scan_file(tmp_path, tuned=False)  # the accuracies before fine-tuning rank the steps
    budget = ("+prune.budget.params_kb=128", "+prune.budget.precision=fp32", f"+prune.budget.scan={scan}")
    ratios = _pruned("prune=l1", *budget)[0].config["per_layer_ratio"]
    widths = [kept(w, ratios[n]) for w, n in zip((16, 16, 32), ("C1", "C2", "C3"), strict=True)]
    assert dcase_cost({"widths": widths})["params_keras"] * 4 <= 128 * 1024 < 46246 * 4
    assert ratios["C1"] == 0.0  # the fragile layer stays whole


def test_a_runs_block_criterion_takes_a_budget(tmp_path) -> None:
    scan = scan_file(tmp_path)
    pruned = _pruned(
        "runs=[{criteria:[l1],fractions:[1.0]}]",
        "criteria.l1.ratio=0.5",
        "+criteria.l1.budget.macs=230000000",
        f"+criteria.l1.budget.scan={scan}",
    )
    assert [s.config["per_layer_ratio"] for s in pruned] == [{"C1": 0.0, "C2": 0.25, "C3": 0.0}]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("+prune.budget.macs=1", "+prune.budget.params_kb=100"), "not both"),
        (
            (),
            "one: add +prune.budget.macs=<int> or +prune.budget.params_kb=<float>",
        ),  # neither: the scan alone
        (("+prune.budget.macs=230000000", "+prune.budget.scan=/nonexistent.csv"), "/nonexistent.csv is none"),
        (("+prune.budget.macs=1000",), "a budget the scan reaches"),
        (("+prune.budget.macs=300000000",), "it fits: nothing to prune"),
        (("+prune.budget.macs=230000000", "+prune.budget.precision=fp8"), "prune.budget.precision='fp8'"),
        (("+prune.budget.macs=230000000", "+prune.budget.mac=3"), "prune.budget key='mac'"),
        (
            ("+prune.budget.macs=2.5",),
            "prune.budget.macs=2.5 is not valid: expected a whole number >= 1 (2.5 has",
        ),
        (("+prune.budget.macs=true",), "prune.budget.macs=True is not valid: expected a whole number >= 1"),
    ],
)
def test_a_budget_asc_cannot_meet_is_refused_at_planning_in_one_line(tmp_path, overrides, says) -> None:
    scan = scan_file(tmp_path)
    given = [o if "scan=" in o else o for o in overrides]
    if not any("scan=" in o for o in overrides):
        given.append(f"+prune.budget.scan={scan}")
    with pytest.raises(ConfigError) as err:
        _pruned("prune=l1", *given)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_scan_file_that_is_no_scan_of_the_criterion_or_layer_is_refused(tmp_path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    partial = scan_file(tmp_path, layers=("C1", "C2"))
    for scan, says in ((other, "a results.csv with stage"), (partial, "a scan of l1 on C3 alone")):
        with pytest.raises(ConfigError, match=says):
            _pruned("prune=l1", "+prune.budget.macs=230000000", f"+prune.budget.scan={scan}")
    with pytest.raises(ConfigError, match="a sensitivity scan of l2 with its baseline"):
        _pruned("prune=l2", "+prune.budget.macs=230000000", f"+prune.budget.scan={partial}")


def test_a_budget_outside_the_dcase_family_or_in_a_scan_is_refused(tmp_path) -> None:
    scan = scan_file(tmp_path)
    budget = ("+prune.budget.macs=230000000", f"+prune.budget.scan={scan}")
    with pytest.raises(ConfigError, match="DCASE family"):
        _pruned("model=panns_cnn10", "model.widths=[4,4,8,8]", "prune=l1", *budget)
    with pytest.raises(ConfigError, match="no budget in a sensitivity block"):
        _pruned("runs=[{criteria:[l1],fractions:[1.0],sensitivity:[0.5]}]", "prune=l1", *budget)


def test_a_budget_costs_the_widths_rounded_to_the_channel_block(tmp_path) -> None:
    from asc.prune.blocks import to_block

    scan = scan_file(tmp_path)
    budget = ("+prune.budget.macs=100000000", f"+prune.budget.scan={scan}", "+prune.round_to_block=8")
    config = _pruned("prune=l1", *budget)[0].config
    ratios = config["per_layer_ratio"]
    widths = [
        to_block(kept(w, ratios[n]), w, 8) for w, n in zip((16, 16, 32), ("C1", "C2", "C3"), strict=True)
    ]
    assert all(w % 8 == 0 for w in widths) and dcase_cost({"widths": widths})["macs"] <= 100_000_000
    assert config["round_to_block"] == 8
