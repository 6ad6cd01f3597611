"""Issue 27: a `runs` block's own ``teacher`` — the demo fine-tunes cosine at 100 % once more, taught by the
baseline, as a row of its own beside the hard-label one (asc.rows.step_pooling_key)."""

from __future__ import annotations

from asc.plan import make_plan
from asc.rows import step_pooling_key
from tests.config_fixtures import composed


def test_the_demo_plans_one_distilling_run_pooled_apart() -> None:
    steps = make_plan(composed())
    tuned = [s for s in steps if s.stage == "finetune"]
    taught = [s for s in tuned if any(u.stage == "teacher" for u in s.upstream)]
    assert len(taught) == 1 and [s.label for s in steps if s.stage == "teacher"] == [
        "teacher baseline seed 0"
    ]
    kd = taught[0]
    hard = next(s for s in tuned if s.label == kd.label and s is not kd)
    assert kd.key != hard.key
    assert step_pooling_key(kd) == (*step_pooling_key(hard)[:-1], "baseline")
    assert step_pooling_key(hard)[-1] == ""


def test_a_global_teacher_still_teaches_every_run() -> None:
    tuned = [s for s in make_plan(composed("finetune.teacher=baseline")) if s.stage == "finetune"]
    assert all(any(u.stage == "teacher" for u in s.upstream) for s in tuned)
