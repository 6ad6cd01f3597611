"""The top-level ``repeats`` fills every `runs` block that does not set its own (issue 29)."""

from __future__ import annotations

from collections import Counter

from config_fixtures import composed

from asc.pipeline.plan import make_plan


def _finetunes(*overrides: str) -> Counter:
    """(criterion, fraction) -> how many hard-label repeats the plan fine-tunes (a distilled run, such as the
    demo's KD block, pools apart: asc/report/rows.py)."""
    steps = [
        s for s in make_plan(composed(*overrides)) if s.stage == "finetune" and "distill" not in s.config
    ]
    return Counter((s.label.split()[0], s.args["fraction"]) for s in steps)


def test_top_level_repeats_fills_blocks_without_their_own() -> None:
    runs = (
        "runs=[{criteria:[cosine],layer_sets:[[C1,C2,C3]],fractions:[0.5]},"
        "{criteria:[l1],layer_sets:[[C1,C2,C3]],fractions:[0.5],repeats:2}]"
    )
    assert _finetunes(runs) == {("cosine", 0.5): 1, ("l1", 0.5): 2}
    assert _finetunes(runs, "repeats=4") == {("cosine", 0.5): 4, ("l1", 0.5): 2}


def test_the_demo_repeats_three_criteria_for_paired_statistics() -> None:
    """The default job: three repeats of cosine, l1 and random at 100 % (the comparison's pairs), one of the
    other criteria; `repeats=2` raises every block that does not set its own."""
    got = _finetunes()
    assert {c: got[(c, 1.0)] for c in ("cosine", "l1", "random", "chebyshev", "average")} == {
        "cosine": 3,
        "l1": 3,
        "random": 3,
        "chebyshev": 1,
        "average": 1,
    }
    assert got[("cosine", 0.25)] == 1
    raised = _finetunes("repeats=2")
    assert (raised[("chebyshev", 1.0)], raised[("cosine", 0.25)], raised[("cosine", 1.0)]) == (2, 2, 3)
