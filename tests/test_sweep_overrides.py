"""A key of a swept config group, given once (`-m prune=l1,l2 prune.ratio=0.3`), applies to every job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asc.app.sweep_overrides import per_job_overrides

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (
            ["-m", "prune=cosine,l1", "prune.ratio=0.3"],
            ["-m", "prune=cosine,l1", "++prune.ratio=choice(0.3)"],
        ),
        (
            ["--multirun", "prune=l1,l2", "prune.layers=[C1]"],
            ["--multirun", "prune=l1,l2", "++prune.layers=choice([C1])"],
        ),
        (
            ["-m", "prune=glob(l*)", "++prune.kept.C1=[0,1]"],
            ["-m", "prune=glob(l*)", "++prune.kept.C1=choice([0,1])"],
        ),
        (
            ["-m", "prune=l1,gm", "+prune.per_layer_ratio.C2=0.25"],
            ["-m", "prune=l1,gm", "++prune.per_layer_ratio.C2=choice(0.25)"],
        ),
        (
            ["-m", "dataset=demo,standin", "dataset.scale=0.2"],
            ["-m", "dataset=demo,standin", "dataset.scale=choice(0.2)"],
        ),
        (
            ["hydra.mode=MULTIRUN", "prune=l1,l2", "prune.ratio=0.3"],
            ["hydra.mode=MULTIRUN", "prune=l1,l2", "++prune.ratio=choice(0.3)"],
        ),
    ],
    ids=["ratio", "layers", "force-add", "add", "other-group", "mode-override"],
)
def test_keys_of_a_swept_group_become_one_value_sweeps(argv: list[str], want: list[str]) -> None:
    assert per_job_overrides(argv) == want


@pytest.mark.parametrize(
    "argv",
    [
        ["prune=l1", "prune.ratio=0.3"],  # a single run
        ["-m", "prune=l1", "prune.ratio=0.3"],  # the group is not swept: its node exists
        ["-m", "prune=cosine,l1", "prune.layers=[C1],[C2]"],  # already a sweep
        [
            "-m",
            "prune=cosine,l1",
            "criteria.l1.ratio=0.3",
            "seed=1",
            "~prune.kept",
        ],  # outside the group / deletion
        ["-m", "hydra/launcher=parallel,submitit_local", "hydra.launcher.n_jobs=2"],  # Hydra's own groups
        ["-m", "prune=(unbalanced"],  # Hydra reports a malformed line itself
    ],
)
def test_other_command_lines_are_left_alone(argv: list[str]) -> None:
    assert per_job_overrides(argv) == argv


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sweep", "shared", "want"),
    [
        ("prune=l1,gm", ["prune.ratio=0.3", "prune.layers=[C1]"], {"ratio": 0.3, "layers": ["C1"]}),
        ("prune=given,authors_kept", ["prune.kept.C1=[0,2]", "prune.layers=[C1]"], {"layers": ["C1"]}),
    ],
    ids=["ratio-criteria", "given"],
)
def test_shared_options_reach_every_job_of_a_real_multirun(tmp_path: Path, sweep, shared, want) -> None:
    cmd = [
        *(sys.executable, "-m", "asc", "-m", "dry_run=true", sweep, *shared),
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [
        yaml.safe_load((tmp_path / "sweep" / j / ".hydra" / "config.yaml").read_text())["prune"] for j in "01"
    ]
    assert [j["name"] for j in jobs] == (["l1", "gm"] if "l1" in sweep else ["given", "given"])
    assert all({k: j[k] for k in want} == want for j in jobs)
    if "given" in sweep:
        assert [j["kept"]["C1"] for j in jobs] == [[0, 2], [0, 2]]
        assert "kept 0/" not in proc.stdout and proc.stdout.count("given C1") >= 2  # both jobs planned


def test_every_combination_is_checked_before_any_job_starts() -> None:
    """A bad value in one combination of a sweep stops it at planning, in one line naming the job and the value,
    before the first job runs (Hydra alone launches the good jobs first); a good sweep passes, job by job."""
    from hydra import initialize_config_dir

    from asc.app.cli import check_recipe_choices
    from asc.app.sweep import BASIC_SWEEPER, check_sweep, jobs
    from asc.core.config_files import CONF_DIR
    from asc.core.errors import ConfigError

    task = per_job_overrides(["-m", "prune=l1,cosine", "prune.ratio=0.3", "dry_run=true"])[1:]
    assert jobs(task) == [
        ["prune=l1", "++prune.ratio=0.3", "dry_run=True"],
        ["prune=cosine", "++prune.ratio=0.3", "dry_run=True"],
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        with pytest.raises(
            ConfigError, match=r"^sweep job 2 of 2 \(prune=cosine prune.ratio=0.3\): prune.ratio=0.3"
        ):
            check_sweep(task, BASIC_SWEEPER, check_recipe_choices, str(REPO))
        with pytest.raises(
            ConfigError, match=r"^sweep job 1 of 2 \(train.epochs=0\): train.epochs=0 is not valid"
        ):
            check_sweep(["train.epochs=0,2", "stage=train"], BASIC_SWEEPER, check_recipe_choices, str(REPO))
        assert (
            check_sweep(["prune=l1,l2", "stage=prune"], BASIC_SWEEPER, check_recipe_choices, str(REPO)) == 2
        )
        assert check_sweep(["prune=l1,l2"], "hydra_plugins.optuna.Sweeper", check_recipe_choices) == 0
