"""Shared fixtures: repository paths, small configs, a generated tiny demo dataset and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_fixtures import TINY_DEMO_DATA

REPO_ROOT = Path(__file__).resolve().parents[1]

# The smallest demo set that still has every scene, a location-grouped validation split and every device: the
# end-to-end tests' config_fixtures.TINY_DEMO_DATA as dataset values, 10 scenes x 1 city x (3 train locations x
# 2 devices + 1 evaluate location x 5 devices) = 110 clips.
TINY_DEMO = {
    key.removeprefix("dataset."): yaml.safe_load(value)
    for key, value in (override.split("=", 1) for override in TINY_DEMO_DATA)
}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``), each worker gets its share of the cores for torch's intra-op threads, and the
    CLI subprocesses it starts inherit that share: N workers each spreading over every core would oversubscribe
    them, and libgomp's spin-wait burns what a descheduled thread leaves. A thread count the user set wins."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers or "OMP_NUM_THREADS" in os.environ:
        return
    share = max(1, (os.cpu_count() or 1) // int(workers))
    os.environ["OMP_NUM_THREADS"] = str(share)
    if "torch" in sys.modules:  # a plugin imported it before this hook: its default was fixed at import
        sys.modules["torch"].set_num_threads(share)


def _load_yaml(*parts: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "conf").joinpath(*parts).read_text())


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def conf_dir() -> Path:
    return REPO_ROOT / "conf"


@pytest.fixture
def features_cfg() -> dict[str, Any]:
    """conf/features/logmel40x500.yaml as composed by default (interpolations resolved; a fresh copy per test)."""
    from config_fixtures import composed  # the one way tests compose a config

    return composed()["features"]


@pytest.fixture
def tiny_demo_cfg() -> dict[str, Any]:
    """conf/dataset/demo.yaml with the tiny overrides (a fresh copy per test)."""
    return {**_load_yaml("dataset", "demo.yaml"), **TINY_DEMO}


def _session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder for the whole test run: under pytest-xdist the one all workers share (their temporary folders'
    parent, one per run), so what it holds is built once, not once per worker; else a fresh temporary folder."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return tmp_path_factory.mktemp(name)
    folder = tmp_path_factory.getbasetemp().parent / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def tiny_demo(shared_data: Path) -> Path:
    """The tiny demo set (full-length 10 s clips) in the TAU layout: the dataset stage's folder in
    ``shared_data``, so it is rendered once per test run for the tests that read it as a user's folder and the
    end-to-end tests that run on it alike (asc's artifact locks make a second worker wait for the first). Tests
    must not modify it (copy it)."""
    from config_fixtures import composed

    import asc
    from asc.pipeline.chain import artifact_dir
    from asc.pipeline.plan import make_plan

    overrides = [*TINY_DEMO_DATA, f"paths.data={shared_data}", "stage=dataset"]
    overrides += [f"paths.{k}={shared_data.parent / 'tiny_demo_runs' / k}" for k in ("store", "results")]
    asc.run(overrides)
    cfg = composed(*overrides)
    (step,) = [s for s in make_plan(cfg) if s.stage == "dataset"]
    return artifact_dir(cfg["paths"], "dataset", step.key)


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``paths.data`` folder for the end-to-end tests whose subject is not the data: the first test that
    needs a demo set or a front end's features builds them, the others reuse them (their keys cover every
    difference, as for any user; under xdist, every worker of the run). A test that builds, corrupts or watches the
    data uses a folder of its own."""
    # two workers building the same artifact at once: asc's artifact locks make one wait for the other
    return _session_folder(tmp_path_factory, "shared_data")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread for the test: tiny networks run several times faster so on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_figures() -> Iterator[None]:
    """Figures written in this test as one PNG at screen resolution (asc.report.figure_output), for tests of what
    is drawn or where: tests/test_figures.py writes every figure at the defaults (300 dpi PNG and PDF)."""
    from asc.report.figure_output import FigureOutput, writing

    with writing(FigureOutput(formats=("png",), dpi=72)):
        yield


@pytest.fixture(autouse=True)
def plenty_of_host_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """What this machine has free is never under test: ``shutil.disk_usage`` reports a petabyte more than it has,
    so a plan that needs the real 27 GB dataset passes its disk check on a CI machine with less (stop 38 failed so).
    A test of the disk check fakes its own disks (``reliability_fixtures.fake_disks``, which patches over this); a
    tmpfs a test mounts (``reliability_fixtures.mounted_tmpfs``) keeps its real figures."""
    from reliability_fixtures import MOUNTED

    real = shutil.disk_usage

    def usage(path: str | os.PathLike) -> Any:
        got = real(path)
        if os.stat(path).st_dev in MOUNTED:
            return got
        return type(got)(got.total + (1 << 50), got.used, got.free + (1 << 50))

    monkeypatch.setattr(shutil, "disk_usage", usage)


@dataclass
class CliResult:
    returncode: int
    output: str  # stdout and stderr interleaved (Hydra logs to stdout, tracebacks go to stderr)
    seconds: float


@pytest.fixture(scope="session")
def run_asc() -> Callable[..., CliResult]:
    """Run ``python -m asc <args>`` from the repository root; returns exit code, combined output and wall time."""

    def run(*args: str, timeout: float = 300) -> CliResult:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "asc", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, time.perf_counter() - start)

    return run
