"""What the user's environment does to a run, refused or warned in one line before anything is built:
launchers and extras not installed, required config groups removed, another config's key, a run folder that
cannot be made, $ASC_LOCK_STALE_AFTER, download URLs; runs whose numbers would mean nothing warn once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import composed

from asc.app import invocation
from asc.core.errors import ConfigError, InputError
from asc.pipeline.validate import validate

REPO = Path(__file__).resolve().parents[1]


def asc(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASC_MALLOC_TUNING": "0", **env}
    return subprocess.run(
        [sys.executable, "-m", "asc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("launcher", "extra"), [("slurm", "slurm"), ("parallel", "parallel"), ("joblib", "parallel")]
)
def test_a_launcher_without_its_extra_names_the_install(monkeypatch, launcher, extra):
    monkeypatch.setattr(invocation, "_missing", lambda module: True)
    with pytest.raises(
        ConfigError, match=rf'hydra/launcher={launcher} needs .*pip install -e "\.\[{extra}\]"'
    ):
        invocation.refuse_command_line(["-m", f"hydra/launcher={launcher}", "prune=cosine,l1"])
    monkeypatch.setattr(invocation, "_missing", lambda module: False)
    invocation.refuse_command_line([f"hydra/launcher={launcher}"])  # installed: nothing to say


def test_a_missing_plugin_is_found_by_its_module():
    assert invocation._missing("hydra_plugins.no_such_launcher")
    assert invocation._missing("no_such_package.sub")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["~model"], "~model removes the model config"),
        (["~features"], "~features removes the features config"),
        (["~train"], "~train removes the train config"),
        (
            ["train=null"],
            "train=null removes the train config, which every job reads: choose one of ",
        ),
        (["dataset.content_hash=true"], "dataset.content_hash is a key of dataset=tau2020mobile only"),
        (["model.nope=1"], "model.nope is not a key of any model config"),
        # no prune= chosen (the demo prunes through runs): the line names the choice to add
        (
            ["prune.ratio=0.5"],
            "prune.ratio is a key of prune=centrality, fpgm, gm, l1, l2, operator_norm only and none of those is "
            "chosen: add prune=<one of those>",
        ),
    ],
)
def test_command_line_faults_are_one_line(tmp_path, args, message):
    out = asc(tmp_path, "dry_run=true", *args)
    assert out.returncode == 1
    assert out.stderr.startswith(f"asc: error: {message}") and len(out.stderr.strip().splitlines()) == 1, (
        out.stderr
    )
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("setting", ["hydra.run.dir", "hydra.sweep.dir"])
def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path, setting):
    (tmp_path / "outputs").write_text("a file where the run folders would go")
    multirun = ["-m"] if setting == "hydra.sweep.dir" else []
    out = asc(tmp_path, *multirun, "dry_run=true", f"{setting}=outputs/run")
    assert out.returncode == 1
    assert out.stderr.startswith("asc: error: cannot create the run folder") and "hydra.run.dir" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan"])
def test_lock_stale_after_is_refused_at_planning(tmp_path, monkeypatch, value):
    from asc.app.cli import run

    monkeypatch.setenv("ASC_LOCK_STALE_AFTER", value)
    cfg = composed(*(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")))
    with pytest.raises(InputError, match=rf"\$ASC_LOCK_STALE_AFTER='{value}' is not a number of seconds > 0"):
        run(cfg)
    assert not any((tmp_path / k).exists() for k in ("data", "store", "results"))


def test_a_run_folder_held_by_this_process_is_held_once(tmp_path):
    # asc/app/run_folder.py holds a single run's folder before Hydra writes there; the job's own hold inside it
    lock = tmp_path / "run" / invocation.RUN_LOCK
    with invocation.own_run_folder(tmp_path / "run", "hydra.run.dir"):
        with invocation.own_run_folder(tmp_path / "run", "hydra.run.dir"):
            assert lock.is_file()
        assert lock.is_file()  # the inner one took nothing, so it released nothing
    assert not lock.exists()


def test_a_refused_run_folder_is_not_made(tmp_path, monkeypatch):
    monkeypatch.setenv("ASC_LOCK_STALE_AFTER", "abc")
    with pytest.raises(InputError, match="ASC_LOCK_STALE_AFTER"):
        with invocation.own_run_folder(tmp_path / "run", "hydra.run.dir"):
            pass
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("dataset.url_template=null", "dataset.url_template"),
        ("dataset.url_template=foo", "dataset.url_template"),
        ("dataset.url_template='{base_url}/archive'", "dataset.url_template"),
        ("dataset.base_url=http://", "dataset.base_url"),
        ("dataset.base_url=zenodo.org/records", "dataset.base_url"),
    ],
)
def test_download_urls_are_checked_at_planning(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}=.* is not valid"):
        validate(composed("dataset=tau2020mobile", override))


def test_a_given_model_on_the_synthetic_demo_warns_once(tmp_path, caplog):
    from model_fixtures import randomised_model

    from asc.nets.model import save_model
    from asc.pipeline.config_effects import meaningless, warn_meaningless
    from asc.pipeline.plan import make_plan

    save_model(randomised_model(), tmp_path / "m.pt")
    for dataset in ("demo", "standin"):
        cfg = composed(
            f"dataset={dataset}", f"train.init_from={tmp_path / 'm.pt'}", f"paths.results={tmp_path}"
        )
        (line,) = meaningless(cfg, make_plan(cfg))
        assert f"is evaluated on dataset={dataset}, a synthetic set" in line
    with caplog.at_level(logging.WARNING, logger="asc"):
        for _ in range(2):  # e.g. two jobs of one sweep
            warn_meaningless(cfg, make_plan(cfg))
    assert sum("synthetic set" in r.getMessage() for r in caplog.records) == 1
    assert not meaningless(composed(f"paths.results={tmp_path}"), make_plan(composed()))


def test_a_results_folder_of_another_dataset_warns(tmp_path):
    from asc.pipeline.config_effects import meaningless
    from asc.pipeline.plan import make_plan

    (tmp_path / "results.csv").write_text("run_id,stage,dataset,accuracy\nx,baseline,tau2020mobile,0.5\n")
    for dataset, label in (("demo", "demo"), ("demo1s", "demo1s")):
        cfg = composed(f"dataset={dataset}", f"paths.results={tmp_path}")
        (line,) = meaningless(cfg, make_plan(cfg))
        assert f"already holds rows of tau2020mobile; this job adds {label}" in line
    (tmp_path / "results.csv").write_text("run_id,stage,dataset,accuracy\nx,baseline,demo,0.5\n")
    cfg = composed(f"paths.results={tmp_path}")
    assert not meaningless(cfg, make_plan(cfg))  # its own dataset's rows: nothing to say
