"""The chain is the one list of stages and it does the work (the import graph's rules: tests/test_layers.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import composed

from asc.pipeline.chain import CHAIN, STAGES
from asc.pipeline.plan import make_plan

PACKAGE = Path(__file__).resolve().parents[1] / "asc"


def test_every_stage_module_plans_checks_and_runs() -> None:
    for stage in CHAIN:
        for name in ("plan", "check", "run"):
            assert callable(getattr(stage.module, name)), f"{stage.module.__name__}.{name}"
        assert stage.module.__name__ == f"asc.pipeline.stages.{stage.name}"
        assert all(STAGES.index(u) < STAGES.index(stage.name) for u in stage.upstream), stage.name


def test_steps_read_only_planned_upstream_steps() -> None:
    steps = make_plan(composed("experiment=paper"))
    seen: set[str] = set()
    for step in steps:
        assert all(u.id in seen for u in step.upstream), step.id
        seen.add(step.id)


def test_planning_loads_no_torch() -> None:
    code = "import sys, asc.pipeline.validate, asc.pipeline.plan, asc.pipeline.dryrun; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


DRY_RUN = """
import sys, tempfile
from config_fixtures import composed
from asc.app.cli import run
cfg = composed(*sys.argv[1:])
work = tempfile.mkdtemp()
cfg["paths"] = {**cfg["paths"], "data": work + "/d", "store": work + "/s", "results": work + "/r"}
run({**cfg, "dry_run": True})
print("LOADED", *[m for m in ("torch", "librosa", "numba") if m in sys.modules])
"""


@pytest.mark.parametrize("overrides", [(), ("experiment=paper", "dataset=standin")], ids=["demo", "paper"])
def test_the_whole_dry_run_loads_neither_torch_nor_librosa_nor_numba(overrides: tuple[str, ...]) -> None:
    """Compose, validate, plan, check and print the dry run in a fresh interpreter: none of the heavy imports
    (every ``asc`` command, a refusal or a dry run included, would pay them before saying anything)."""
    root = PACKAGE.parent
    done = subprocess.run(
        [sys.executable, "-c", DRY_RUN, *overrides],
        cwd=root / "tests",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "LOADED", done.stdout[-500:]


def test_checks_of_content_that_did_not_exist_at_planning_run_before_it_is_used(monkeypatch) -> None:
    """A stage whose content did not exist at planning (a download another job is filling) has the later
    stages' checks run once it has run, before any later stage builds; a ready stage's are not repeated."""
    from types import SimpleNamespace

    from asc.pipeline import chain, execute

    calls: list[str] = []

    def module(name: str, ready: bool | None = None) -> SimpleNamespace:
        m = SimpleNamespace(
            plan=None,
            check=lambda steps, cfg: calls.append(f"check {name}") or [],
            run=lambda steps, ctx: calls.append(f"run {name}"),
        )
        if ready is not None:
            m.ready = lambda cfg: ready
        return m

    fake = (
        chain.Stage("a", (), "data", module("a", ready=False)),
        chain.Stage("b", ("a",), "store", module("b")),
        chain.Stage("c", ("b",), "store", module("c", ready=True)),
        chain.Stage("d", ("c",), "store", module("d")),
    )
    monkeypatch.setattr(execute, "CHAIN", fake)
    monkeypatch.setattr(execute, "STAGES", tuple(s.name for s in fake))
    monkeypatch.setattr(
        execute, "Context", lambda cfg, **kwargs: SimpleNamespace(device=SimpleNamespace(type="cpu"))
    )
    quiet = SimpleNamespace(start_line=str, begin=lambda stage: None, end=lambda stage, s: None, status=str)
    monkeypatch.setattr(execute, "JobProgress", lambda steps, cfg, device: quiet)  # the log's progress lines
    steps = [SimpleNamespace(stage=s.name) for s in fake]
    monkeypatch.setattr(execute, "by_stage", lambda steps: {s.stage: [s] for s in steps})
    execute.execute(steps, {"runtime": {"progress": True}}, upto="d")
    assert calls == ["run a", "check b", "check c", "check d", "run b", "run c", "run d"]
