"""Paths resolve once, from the folder asc was started in (or ``paths.root``), whatever ``hydra.job.chdir``,
``hydra.run.dir`` or ``hydra.sweep.dir`` say; run and sweep folders are unique per invocation (asc/app/invocation.py).
Each test runs the CLI from a temporary folder with relative paths, as a user does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from config_fixtures import TINY_DEMO_DATA

REPO = Path(__file__).resolve().parents[1]
TINY = list(TINY_DEMO_DATA)
# Hydra's ${now:} frozen: two invocations "in the same second"
FROZEN = """
import datetime, sys
import hydra.core.utils as hydra_utils

class Frozen(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 1, 2, 3, 4, 5)

hydra_utils.datetime = Frozen
from asc.app.cli import main
main()
"""


def asc(cwd: Path, *args: str, frozen: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASC_MALLOC_TUNING": "0"}
    head = ["-c", FROZEN, *args] if frozen else ["-m", "asc", *args]
    return subprocess.run(
        [sys.executable, *head], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def plan_paths(output: str) -> tuple[str, str]:
    found = re.search(r"^paths: store (\S+), results (\S+)$", output, re.M)
    assert found, output
    return found.group(1), found.group(2)


@pytest.mark.parametrize(
    "hydra",
    [
        ["hydra.job.chdir=true"],  # Hydra < 1.2's default, kept by many templates
        ["hydra.job.chdir=true", "hydra.run.dir=runs/mine"],  # and a relative run folder
        ["hydra.run.dir=../elsewhere/run"],
    ],
    ids=["chdir", "chdir+relative-run-dir", "run-dir-outside"],
)
def test_paths_resolve_from_the_start_folder(tmp_path, hydra):
    start = tmp_path / "project"
    start.mkdir()
    out = asc(start, "dry_run=true", *hydra)
    assert out.returncode == 0, out.stderr
    assert plan_paths(out.stdout) == (str(start / "outputs/store"), str(start / "outputs/results"))


def test_paths_root_and_relative_inputs_under_chdir(tmp_path):
    from model_fixtures import randomised_model

    from asc.nets.model import save_model

    save_model(randomised_model(), tmp_path / "mine.pt")
    out = asc(
        tmp_path,
        "dry_run=true",
        "hydra.job.chdir=true",
        f"paths.root={tmp_path / 'root'}",
        "train.init_from=mine.pt",
    )
    assert out.returncode == 0, out.stderr  # mine.pt: from where asc was started, not the run folder
    assert plan_paths(out.stdout) == (
        str(tmp_path / "root/outputs/store"),
        str(tmp_path / "root/outputs/results"),
    )
    out = asc(tmp_path, "dry_run=true", "paths.root=root")
    assert out.returncode == 1 and "paths.root='root' is not valid" in out.stderr


@pytest.mark.parametrize("key", ["store", "results"])
def test_a_folder_inside_the_run_folder_is_refused(tmp_path, key):
    out = asc(tmp_path, "dry_run=true", f"paths.{key}=${{hydra:runtime.output_dir}}/{key}")
    assert out.returncode == 1
    assert f"paths.{key}=" in out.stderr and "lies inside this job's run folder" in out.stderr
    assert not (tmp_path / "outputs" / key).exists()


def test_two_sweeps_in_the_same_second_keep_their_own_folders(tmp_path):
    sweeps = [
        asc(tmp_path, "-m", "dry_run=true", f"prune={p}", frozen=True) for p in ("l1,l2", "cosine,fpgm")
    ]
    assert all(s.returncode == 0 for s in sweeps), sweeps[-1].stderr
    folders = sorted((tmp_path / "outputs/multirun/2026-01-02").iterdir())
    assert len(folders) == 2, (
        folders
    )  # one sweep folder per invocation, though the clock said the same second
    seen = set()
    for folder in folders:
        jobs = [yaml.safe_load((folder / str(n) / ".hydra/overrides.yaml").read_text()) for n in (0, 1)]
        chosen = tuple(next(o for o in job if o.startswith("prune=")) for job in jobs)
        seen.add(chosen)
    assert seen == {("prune=l1", "prune=l2"), ("prune=cosine", "prune=fpgm")}  # no job's record overwritten
    runs = [asc(tmp_path, "dry_run=true", frozen=True) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs)
    assert len(list((tmp_path / "outputs/runs/2026-01-02").iterdir())) == 2


@pytest.mark.slow
def test_a_second_run_from_another_run_folder_reuses_everything(tmp_path, shared_data):
    # paths.data stays relative ("data", from the start folder): a link to conftest's shared_data, so the tiny demo is
    # generated once per test run; a data folder resolved against the run folder would miss it in both runs
    (tmp_path / "data").symlink_to(shared_data, target_is_directory=True)
    first = asc(tmp_path, "stage=index", *TINY, "hydra.job.chdir=true", "hydra.run.dir=runs/a")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "outputs/store/index").is_dir() and not (tmp_path / "runs/a/outputs").exists()
    again = asc(
        tmp_path, "stage=index", "dry_run=true", *TINY, "hydra.job.chdir=true", "hydra.run.dir=runs/b"
    )
    assert again.returncode == 0, again.stderr
    statuses = re.findall(r"^(dataset|index)\s+\S+\s+(\S+)", again.stdout, re.M)
    assert statuses == [("dataset", "cached"), ("index", "cached")], again.stdout


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    ("setting", "held"),
    [("hydra.run.dir", ""), ("hydra.sweep.dir", ""), ("hydra.sweep.dir", "0")],
    ids=[
        "run",
        "sweep",
        "sweep-job",
    ],  # a run's folder; a sweep's (its parent holds it); one job's of a sweep
)
def test_one_fixed_run_folder_for_two_jobs_at_once_is_refused(tmp_path, setting, held):
    from asc.app.invocation import RUN_LOCK
    from asc.core.locks import hold

    multirun = setting == "hydra.sweep.dir"
    job_dir = tmp_path / "fixed" / held
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra/config.yaml").write_text("the running job's own config\n")  # Hydra would overwrite it
    (job_dir / "cli.log").write_text("the running job's log\n")  # and append to it
    with hold(job_dir / RUN_LOCK, what="a job still running there"):  # this test's process: alive
        before = _tree(tmp_path / "fixed")
        out = asc(tmp_path, *(["-m"] if multirun else []), "dry_run=true", f"{setting}=fixed")
        after = _tree(tmp_path / "fixed")
    assert out.returncode == 1, out.stdout
    assert f"is in use by another asc job (pid {os.getpid()}" in out.stderr and setting in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # one line, no warning of Hydra's
    assert "dry run" not in out.stdout
    assert after == before  # nothing of the running job's overwritten or appended to, nothing new beside it
    again = asc(tmp_path, *(["-m"] if multirun else []), "dry_run=true", f"{setting}=fixed")
    assert again.returncode == 0, again.stderr  # once that job is done, the folder is free again
    assert not list((tmp_path / "fixed").rglob(RUN_LOCK))  # and every hold released
