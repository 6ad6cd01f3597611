"""Issue 27: a `runs` block's own ``teacher`` — the demo fine-tunes cosine at 100 % once more, taught by the
baseline, as a row of its own beside the hard-label one (asc.report.rows.step_pooling_key)."""

from __future__ import annotations

import pytest
from config_fixtures import composed

from asc.pipeline.plan import make_plan
from asc.report.rows import step_pooling_key


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
    hard_key = step_pooling_key(hard)  # the teacher (index 10) tells them apart; the fold (last) is empty
    assert step_pooling_key(kd) == (*hard_key[:10], "baseline", *hard_key[11:])
    assert hard_key[10] == ""


def test_a_global_teacher_still_teaches_every_run() -> None:
    tuned = [s for s in make_plan(composed("finetune.teacher=baseline")) if s.stage == "finetune"]
    assert all(any(u.stage == "teacher" for u in s.upstream) for s in tuned)


def test_a_blocks_bad_teacher_file_is_named_by_its_own_key(tmp_path) -> None:
    """A `runs` block's own teacher file that is missing or malformed is refused naming ``runs[i].teacher``, the
    key the user wrote, not ``finetune.teacher`` (which is unset)."""

    from asc.core.errors import InputError
    from asc.pipeline.stages import teacher

    cfg = composed()
    cfg["runs"][3]["teacher"] = str(tmp_path / "missing.csv")
    with pytest.raises(InputError, match=r"^runs\[3\]\.teacher=.*missing\.csv: no such file"):
        make_plan(cfg)
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,x\na.wav,1\n")
    cfg["runs"][3]["teacher"] = str(bad)
    steps = [s for s in make_plan(cfg) if s.stage == "teacher"]
    with pytest.raises(InputError, match=r"^runs\[3\]\.teacher=.*bad\.csv has columns"):
        teacher.check(steps, cfg)
    cfg["finetune"]["teacher"] = str(bad)  # the same file named globally too: the global key comes first
    assert teacher.key_of(cfg, str(bad)) == "finetune.teacher"
