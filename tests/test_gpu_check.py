"""The prepared GPU command rehearses on the CPU: scripts/gpu_check.py --rehearse runs every section at tiny
sizes and writes its JSON and Markdown (figures are never asserted: only that each section ran)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def rehearse(out: Path, sections: str, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--rehearse", "--out", str(out), "--sections", sections],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's asc, as gpu_check.sh sets it
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["rehearsal"] is True
    md = (out / "gpu_check.md").read_text()
    for name in sections.split(","):
        assert "error" not in report["sections"][name], report["sections"][name]
        assert f"## {name}" in md
    return report


def test_rehearsal_measures_every_speed_section(tmp_path: Path) -> None:
    r = rehearse(tmp_path, "env,baseline,fused,forms,projection", timeout=300)["sections"]
    assert len(r["baseline"]["cases"]) == 4 and "CUDA graphs fp32" in r["baseline"]["cases"]
    assert r["fused"]["examples_per_s"]["fp32"]["1"] > 0
    forms = r["forms"]["examples_per_s"]["fp32 M=2"]
    assert {"grouped", "split", "im2col", "split, cudnn.benchmark"} <= set(forms)
    assert forms["auto picked"] == "grouped"  # the CPU rule
    assert r["projection"]["total_min"] > 0 and r["projection"]["runs"] > 200


@pytest.mark.slow
def test_rehearsal_runs_the_tests_the_cli_slice_and_compile(tmp_path: Path) -> None:
    """``clitest`` is the ``tests`` section on another group of files (test_every_test_group_holds_cuda_tests)."""
    r = rehearse(tmp_path, "env,tests,cli,compile", timeout=900)["sections"]
    assert r["tests"]["rc"] == 0, r["tests"]  # pytest -m cuda --collect-only: rc 5 if it had collected none
    assert r["cli"]["rc"] == 0 and r["cli"]["result_rows"] > 0, r["cli"]["tail"]
    assert r["compile"]["mode"] == "aot_eager" and r["compile"]["examples_per_s"] > 0, r["compile"]


def test_every_test_group_holds_cuda_tests() -> None:
    """The files the ``tests`` and ``clitest`` sections run (gpu_check_jobs.TEST_GROUPS, read with ``ast``) exist
    and each holds a test marked ``cuda``: the rehearsal runs the ``tests`` section's command for real."""
    import ast

    tree = ast.parse((ROOT / "scripts" / "gpu_check_jobs.py").read_text())
    (groups,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TEST_GROUPS" for t in node.targets)
    ]
    assert set(groups) == {"unit", "cli"}
    for files in groups.values():
        for name in files:
            assert "pytest.mark.cuda" in (ROOT / name).read_text(), name  # a decorator or a pytestmark
