"""Sweeps through Hydra launchers share upstream artifacts; a failing job logs why and leaves the store sound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import TINY_DEMO_DATA

REPO = Path(__file__).resolve().parents[1]
TINY = [
    *TINY_DEMO_DATA,
    "train.epochs=1",
    "train.select_after=0",
    "model.widths=[4,4,8]",  # the launchers, not the arithmetic: a narrow network trains in a fraction of the time
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("launchers")


def sweep(tmp: Path, data: Path, name: str, *overrides: str) -> subprocess.CompletedProcess:
    """``asc -m stage=prune`` on the tiny demo; ``data``: conftest's ``shared_data`` (the data are not under test
    here, their keys cover the tiny demo: built once per test run); store, results and sweep folders under ``tmp``."""
    paths = [
        f"paths.data={data}",
        f"paths.store={tmp / 'store'}",
        f"paths.results={tmp / name}",
        f"hydra.sweep.dir={tmp / 'sweeps' / name}",
    ]
    cmd = [sys.executable, "-m", "asc", "-m", "stage=prune", *TINY, *paths, *overrides]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def built(store: Path, stage: str) -> list[Path]:
    return [p for p in (store / stage).iterdir() if (p / "manifest.json").is_file()]


@pytest.mark.parametrize("launcher", ["parallel", "submitit_local"])
def test_launcher_jobs_share_the_baseline(workdir, shared_data, launcher):
    proc = sweep(workdir, shared_data, launcher, f"hydra/launcher={launcher}", "prune=cosine,l1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(workdir / launcher / "results.csv")
    assert set(table.loc[table["stage"] == "prune", "criterion"]) == {"cosine", "l1"}
    assert len(built(workdir / "store", "train")) == 1  # one baseline for all jobs and both launchers
    # prune=... on the command line replaces the demo experiment's criteria: one criterion per job.
    logs = [(workdir / "sweeps" / launcher / job / "cli.log").read_text() for job in ("0", "1")]
    assert "(cosine C1+C2+C3)" in logs[0] and "(l1 " not in logs[0]
    assert "(l1 C1+C2+C3)" in logs[1] and "(cosine " not in logs[1]


def test_a_sweep_with_a_bad_job_is_refused_before_any_job_runs(workdir, shared_data):
    # asc/app/sweep.py plans every combination before the launcher starts: the bad one is named in one line and the
    # good one never runs (before, the good job ran and the bad one failed at its own planning)
    proc = sweep(workdir, shared_data, "failing", "prune=cosine", "prune.layers=[C1],[C9]")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("asc: error:")]
    assert len(errors) == 1 and "sweep job 2 of 2" in errors[0] and "prune.layers" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not (workdir / "failing" / "results.csv").exists()  # no job ran
    assert not (workdir / "sweeps" / "failing" / "0" / "cli.log").exists()
