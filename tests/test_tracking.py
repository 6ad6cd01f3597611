"""Experiment tracking: one MLflow or TensorBoard run per evaluated artifact (config, per-epoch history, final
metrics, provenance), once per store; the packages checked at planning; the SQLite store created before a
multirun's jobs; and the demo's runs read back with MLflow's own client."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from config_fixtures import NO_FIGURES, TINY_DEMO_DATA
from omegaconf import OmegaConf

from asc.core.errors import ConfigError
from asc.core.provenance import provenance
from asc.report import tracking

HISTORY = [
    {"epoch": 1, "loss": 2.0, "select_acc": 0.3, "seconds": 1.5},
    {"epoch": 2, "loss": 1.5, "select_acc": 0.4, "seconds": 1.4},
    {"epoch": 3, "loss": 1.2, "select_acc": 0.5, "seconds": 1.4},
]
needs_mlflow = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("mlflow", "sqlalchemy", "alembic")),
    reason=f"needs the extra [tracking]: {tracking.INSTALL}",
)
needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason=f"needs tensorboard: {tracking.INSTALL}"
)


TINY_CLI = [  # the demo in seconds: one city, two epochs, a narrow network
    *TINY_DEMO_DATA,
    "train.epochs=2",
    "train.select_after=0",
    "finetune.epochs=1",
    "runs=[{criteria:[cosine,l1],fractions:[1.0],repeats:1}]",
    "model.widths=[4,4,8]",
    "quantise.enabled=false",  # tracking records the rows it is given; tests/test_quantised*.py cover int8 rows
]


def cfg_for(tmp_path: Path, name: str, **options) -> dict:
    return {"tracking": {"name": name, **options}, "paths": {"results": str(tmp_path / "results")}}


def artifact(folder: Path, accuracy: float = 0.5, history=HISTORY) -> Path:
    folder.mkdir(parents=True)
    row = {"run_id": "train/abc", "dataset": "demo", "accuracy": accuracy, "macs": 1000, "finetuned": False}
    (folder / "row.json").write_text(json.dumps(row | {"criterion": "none", "log_loss": float("nan")}))
    metrics = {"accuracy": accuracy, "best_select_acc": 0.5, "history": history}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def an_entry(tmp_path: Path, key: str = "abc") -> tracking.Entry:
    config = {"model": {"widths": [4, 4, 8], "name": "dcase21"}, "train": {"lr": 0.001}, "seed": 0}
    folder = artifact(tmp_path / "store" / key)
    return tracking.entry(
        f"train/{key}", "baseline seed 0", config, {"features": "f1", "index": "i1"}, folder
    )


def test_entry_holds_config_history_metrics_and_provenance(tmp_path):
    e = an_entry(tmp_path)
    assert e.params == {
        "model.widths": "[4, 4, 8]",
        "model.name": "dcase21",
        "train.lr": "0.001",
        "seed": "0",
        "upstream.features": "f1",
        "upstream.index": "i1",
    }
    assert e.metrics == {"accuracy": 0.5, "macs": 1000.0, "best_select_acc": 0.5}  # no NaN, no bool, no text
    assert e.history == HISTORY and e.tags["asc.artifact"] == "train/abc"
    assert e.tags["asc.torch_version"] == provenance()["torch_version"]


def test_check_names_the_value_and_the_install_command(tmp_path, monkeypatch):
    tracking.check(cfg_for(tmp_path, "none"))
    tracking.check({"paths": {}})  # a config without the node: none
    with pytest.raises(ConfigError, match=r"^tracking='wandb' is not valid: expected one of none, mlflow"):
        tracking.check(cfg_for(tmp_path, "wandb"))
    with pytest.raises(ConfigError, match=r"^tracking\.uri=3 is not valid"):
        tracking.check(cfg_for(tmp_path, "mlflow", uri=3, experiment="asc"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m: None if m in ("mlflow", "tensorboard") else real(m)
    )
    for name, package in (("mlflow", "mlflow"), ("tensorboard", "tensorboard")):
        with pytest.raises(ConfigError, match=rf"tracking={name} needs the package\(s\) {package},") as err:
            tracking.check(cfg_for(tmp_path, name, experiment="asc"))
        assert tracking.INSTALL in str(err.value) and "\n" not in str(err.value)


def test_validation_checks_tracking(tmp_path):
    from test_config import composed

    from asc.pipeline.validate import validate

    cfg = composed("tracking=mlflow", "tracking.experiment=''")
    with pytest.raises(ConfigError, match="tracking.experiment"):
        validate(cfg)


@needs_mlflow
def test_mlflow_one_run_per_artifact(tmp_path):
    from mlflow.tracking import MlflowClient

    cfg = cfg_for(tmp_path, "mlflow", uri=None, experiment="asc")
    tracking.prepare(cfg)
    db = tmp_path / "results" / "mlflow.db"
    assert db.is_file() and tracking.mlflow_uri(cfg) == f"sqlite:///{db}"
    tracking.record(cfg, [an_entry(tmp_path)])
    tracking.record(
        cfg, [an_entry(tmp_path / "again")]
    )  # the same artifact reused by a later job: no new run
    tracking.record(cfg, [an_entry(tmp_path, key="def")])
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = client.search_runs([client.get_experiment_by_name("asc").experiment_id])
    assert sorted(r.data.tags["asc.artifact"] for r in runs) == ["train/abc", "train/def"]
    run = next(r for r in runs if r.data.tags["asc.artifact"] == "train/abc")
    assert run.info.run_name == "baseline seed 0" and run.info.status == "FINISHED"
    assert run.data.params["train.lr"] == "0.001" and run.data.params["upstream.features"] == "f1"
    assert run.data.metrics["accuracy"] == 0.5
    assert run.data.tags["asc.host"] == provenance()["host"]
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in sorted(losses, key=lambda m: m.step)] == [(1, 2.0), (2, 1.5), (3, 1.2)]
    assert len(client.get_metric_history(run.info.run_id, "select_acc")) == 3


@needs_mlflow
def test_a_multirun_creates_the_store_before_its_jobs(tmp_path):
    from asc.app.cli import ReportAfterMultirun

    config = OmegaConf.create(cfg_for(tmp_path, "mlflow", uri=None, experiment="sweep") | {"dry_run": False})
    ReportAfterMultirun().on_multirun_start(config)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    assert client.get_experiment_by_name("sweep") is not None
    none = OmegaConf.create(cfg_for(tmp_path / "n", "none") | {"dry_run": False})
    ReportAfterMultirun().on_multirun_start(none)
    assert not (tmp_path / "n").exists()


@needs_tensorboard
def test_tensorboard_one_run_folder_per_artifact(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = cfg_for(tmp_path, "tensorboard", log_dir=None)
    tracking.prepare(cfg)
    tracking.record(cfg, [an_entry(tmp_path)])
    folder = tmp_path / "results" / "tensorboard" / "train" / "abc"
    stamp = sorted(p.stat().st_mtime_ns for p in folder.iterdir())
    tracking.record(cfg, [an_entry(tmp_path / "again")])  # recorded once
    assert sorted(p.stat().st_mtime_ns for p in folder.iterdir()) == stamp
    events = EventAccumulator(str(folder))
    events.Reload()
    loss = events.Scalars("history/train_loss")
    assert [(s.step, round(s.value, 4)) for s in loss] == [(1, 2.0), (2, 1.5), (3, 1.2)]
    assert events.Scalars("final/accuracy")[0].value == 0.5
    assert not list(folder.parent.glob("*.partial"))


@pytest.mark.slow
@needs_mlflow
def test_the_demos_runs_are_in_the_sqlite_store(tmp_path, shared_data):
    """The demo (a tiny budget) with tracking=mlflow: every results row is one MLflow run, read with MLflow's
    own client, with its history and final metrics. The job runs in this process (``asc.run``, the CLI's job
    without Hydra's run folder): what is under test is the store, not the command's process."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    import asc

    asc.run(
        [
            "tracking=mlflow",
            f"paths.data={shared_data}",
            f"paths.store={tmp_path / 'store'}",
            f"paths.results={tmp_path / 'results'}",
            *TINY_CLI,
            "runtime.latency.measure=false",
            *NO_FIGURES,
        ]
    )
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("asc").experiment_id])
    assert sorted(r.data.tags["asc.artifact"] for r in runs) == sorted(rows["run_id"])
    by_id = {r.data.tags["asc.artifact"]: r for r in runs}
    for _, row in rows.iterrows():
        run = by_id[row["run_id"]]
        assert run.data.metrics["accuracy"] == pytest.approx(row["accuracy"])
        commit = "" if pd.isna(row["git_commit"]) else row["git_commit"]
        assert run.data.tags.get("asc.git_commit", "") == commit and run.data.tags["asc.host"] == row["host"]
    baseline = by_id[rows.loc[rows["stage"] == "baseline", "run_id"].iloc[0]]
    assert baseline.data.params["train.epochs"] == "2"
    assert len(client.get_metric_history(baseline.info.run_id, "train_loss")) == 2


@pytest.mark.slow
@needs_mlflow
@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None, reason="needs [parallel]"
)
def test_parallel_jobs_share_one_store_and_record_the_shared_baseline_once(tmp_path, shared_data):
    """A parallel multirun: the store exists before the jobs start, and the baseline both jobs reuse is one run.
    The data are conftest's ``shared_data`` (their keys cover the tiny demo): the subject is the artifact store."""
    import subprocess
    import sys

    import pandas as pd
    from mlflow.tracking import MlflowClient

    cmd = [sys.executable, "-m", "asc", "-m", "stage=prune", "tracking=mlflow", "hydra/launcher=parallel"]
    cmd += ["prune=cosine,l1", *[o for o in TINY_CLI if not o.startswith(("runs=", "finetune."))]]
    cmd += [f"paths.data={shared_data}", *(f"paths.{k}={tmp_path / k}" for k in ("store", "results"))]
    cmd += [f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("asc").experiment_id])
    artifacts = [r.data.tags["asc.artifact"] for r in runs]
    assert sorted(artifacts) == sorted(rows["run_id"]) and len(set(artifacts)) == len(artifacts) == 3
