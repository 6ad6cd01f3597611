"""Install anywhere (issue 29): the configs ship as package data, a wheel installed elsewhere runs, shell
completion registers `asc`, and `asc --help` says what asc does."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

import asc
from asc.app.cli import experiments_help

REPO = Path(__file__).resolve().parents[1]


def _conf_files() -> set[str]:
    return {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*") if p.is_file()}


def test_the_configs_are_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    assert asc.CONF_DIR == Path(str(files("asc") / "conf"))
    assert (asc.CONF_DIR / "config.yaml").is_file()
    assert (REPO / "asc" / "conf").resolve() == (REPO / "conf").resolve()
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "asc"
    ]
    globbed = {
        p.relative_to(REPO / "asc" / "conf").as_posix() for g in shipped for p in (REPO / "asc").glob(g)
    }
    assert _conf_files() - {"__pycache__"} == globbed, "a file of conf/ that the wheel would not ship"


def test_completion_registers_asc(tmp_path: Path) -> None:
    """asc re-executes itself (glibc malloc settings) as `python -m asc`; Hydra names the program after argv[0]."""
    env = {k: v for k, v in os.environ.items() if k not in ("ASC_MALLOC_TUNING", "LD_PRELOAD")}
    code = "import sys; sys.argv[0] = '/opt/bin/asc'; from asc.__main__ import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", code, "-sc", "install=bash"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=120,
        check=True,
    ).stdout
    assert out.rstrip().endswith("-F hydra_bash_completion asc"), out[-300:]
    assert "complete -p asc" in out


def test_help_says_what_asc_does(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "asc", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "ASC_MALLOC_TUNING": "0"},
        cwd=tmp_path,
        timeout=120,
        check=True,
    ).stdout
    assert out.startswith("asc: acoustic scene classification and passive CNN filter pruning")
    assert "powered by Hydra" not in out and len(out.splitlines()) < 60
    commands = out[out.index("Commands:") : out.index("Experiments")]
    assert len([line for line in commands.splitlines() if line.startswith("  asc")]) == 5
    for path in (REPO / "conf" / "experiment").glob("*.yaml"):
        assert f"\n  {path.stem} " in out, path.stem
    assert "\ndataset: " in out and " demo, " in out  # Hydra's list of the config groups


def test_experiment_lines() -> None:
    lines = experiments_help(width=80).splitlines()
    assert len(lines) == len(list((REPO / "conf" / "experiment").glob("*.yaml")))
    assert all(len(line) <= 80 for line in lines)
    assert any(line.startswith("  paper_fig3            Fig. 3: cosine pruning") for line in lines)


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_runs(tmp_path: Path) -> None:
    """A wheel in a fresh venv that sees this Python's packages, run outside the repo (CI relies on this test)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path / "w",
            REPO,
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "w").glob("asc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"asc/conf/{f}" for f in _conf_files() if f.endswith(".yaml")} <= names
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", tmp_path / "venv"], check=True)
    bin_ = tmp_path / "venv" / "bin"
    subprocess.run([bin_ / "pip", "install", "-q", "--no-deps", wheel], check=True, timeout=300)
    (tmp_path / "elsewhere").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [bin_ / "asc", "dry_run=true"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "elsewhere",
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.rstrip().endswith("dry run: nothing was built.")
    where = subprocess.run(
        [bin_ / "python", "-c", "import asc; print(asc.CONF_DIR)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "elsewhere",
        check=True,
    )
    assert where.stdout.strip().startswith(str(tmp_path / "venv"))
