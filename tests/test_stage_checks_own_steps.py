"""Invariant: each stage's ``check`` answers for its own steps only (asc/pipeline/chain.py's contract), on the demo's plan."""

from __future__ import annotations

from pathlib import Path

from config_fixtures import composed

from asc.pipeline.chain import CHAIN
from asc.pipeline.plan import by_stage, make_plan


def test_each_stage_check_answers_for_its_own_steps_only(tmp_path: Path) -> None:
    cfg = composed(
        f"paths.data={tmp_path}/data", f"paths.store={tmp_path}/store", f"paths.results={tmp_path}/results"
    )
    grouped = by_stage(make_plan(cfg))
    assert sum(1 for stage in CHAIN if grouped[stage.name]) >= 2  # the demo's plan spans several stages
    answers = 0
    for stage in CHAIN:
        own = grouped[stage.name]
        answered = stage.check(own, cfg)
        answers += len(answered)
        assert {step.id for step, _ in answered} <= {step.id for step in own}, stage.name
    assert answers  # the checks did answer (disk needs of the steps still to build)
