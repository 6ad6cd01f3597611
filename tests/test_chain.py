"""The chain is the one list of stages and it does the work; the package's import graph has no circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from asc.pipeline.chain import CHAIN, STAGES
from asc.pipeline.plan import make_plan
from tests.config_fixtures import composed

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


def _imports(path: Path) -> set[str]:
    """The asc modules a module imports: at its top, inside a function (a deferred import is still an edge) or
    under ``if TYPE_CHECKING:`` (a type-only import is an edge too: move the type instead)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or "" if node.level == 0 else _resolve(path, node.module, node.level)
            names = [f"{base}.{a.name}" for a in node.names]
            out.update(names)
            # `from . import x` imports x, not the package it sits in; so does `from asc import split_files`
            # (the submodule, not the package's own code: asc/__init__.py's CONF_DIR and lazy API)
            if node.module and not all(map(_is_module, names)):
                out.add(base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("asc")}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolve(path: Path, module: str | None, level: int) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[: len(parts) - level] + ([module] if module else []))


def test_the_import_graph_has_no_circle() -> None:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()
    }

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            raise AssertionError("import circle: " + " -> ".join(stack[stack.index(node) :] + [node]))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)


def test_planning_loads_no_torch() -> None:
    code = "import sys, asc.pipeline.validate, asc.pipeline.plan, asc.pipeline.dryrun; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


DRY_RUN = """
import sys, tempfile
from tests.config_fixtures import composed
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
        [sys.executable, "-c", DRY_RUN, *overrides], cwd=root, capture_output=True, text=True, timeout=300
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
