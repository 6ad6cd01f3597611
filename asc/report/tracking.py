"""Experiment tracking: every evaluated model (a train, prune, finetune or perdevice artifact: one results row) as
one run of MLflow or TensorBoard, chosen by ``tracking=none|mlflow|tensorboard`` (conf/tracking/).

A run holds the artifact's config (MLflow params, flattened: ``train.lr``), the keys of the artifacts it was
built from, its per-epoch history (``train_loss``, ``select_acc``, ``epoch_seconds`` with the epoch as step), its
final metrics (every number of its results row) and what built it (asc/core/provenance.py, as tags). Runs are
recorded when the stage records its rows, for artifacts built or reused alike, and once per artifact and store:
an artifact already in the store (tag ``asc.artifact`` = ``stage/key``) is not recorded again, so rerunning a
command or reusing an artifact in another job adds nothing. Recording holds ``<paths.results>/tracking.lock``
(asc/core/locks.py), so parallel jobs never record an artifact twice.

MLflow's default store is server-less: a SQLite database ``<paths.results>/mlflow.db`` (``mlflow ui
--backend-store-uri sqlite:///...`` shows it), whose tables are created before any job runs (:func:`prepare`,
before a multirun's first job too), so parallel jobs never race to create them. Nothing here enters an
artifact's key. Torch-free: planning checks (:func:`check`) find the packages without importing them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError
from asc.core.provenance import provenance

INSTALL = 'pip install -e ".[tracking]"'
HISTORY = {"loss": "train_loss", "select_acc": "select_acc", "seconds": "epoch_seconds"}  # per-epoch metrics
MAX_PARAM = 6000  # MLflow's longest parameter value
BATCH = 100  # MLflow's most parameters in one log_batch call (metrics: 1000)


@dataclass(frozen=True)
class Entry:
    """What one artifact gives its run: ``artifact`` is ``stage/key``."""

    artifact: str
    label: str
    params: dict[str, str]
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def flatten(config: Any, prefix: str = "") -> dict[str, str]:
    """``{"train": {"lr": 0.001}}`` as ``{"train.lr": "0.001"}``; lists as JSON, values cut at MLflow's limit."""
    if isinstance(config, Mapping):
        out: dict[str, str] = {}
        for key, value in config.items():
            out |= flatten(value, f"{prefix}{key}.")
        return out
    text = json.dumps(config) if isinstance(config, list | tuple) else str(config)
    return {prefix.rstrip("."): text[:MAX_PARAM]}


def entry(artifact: str, label: str, config: Any, upstream: Mapping[str, str], folder: Path) -> Entry:
    """The run of the artifact published in ``folder`` (its row.json and metrics.json; asc/pipeline/publish.py)."""
    row = json.loads((folder / "row.json").read_text())
    scores = json.loads((folder / "metrics.json").read_text())
    numbers = {
        k: float(v)
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if isinstance(scores.get("best_select_acc"), int | float):
        numbers["best_select_acc"] = float(scores["best_select_acc"])
    params = flatten(config) | {f"upstream.{stage}": key for stage, key in upstream.items()}
    stage, key = artifact.split("/")
    tags = {"asc.artifact": artifact, "asc.stage": stage, "asc.key": key, "asc.dataset": str(row["dataset"])}
    tags |= {f"asc.{k}": str(v) for k, v in provenance().items() if v is not None}
    if provenance()["git_commit"]:
        tags["mlflow.source.git.commit"] = provenance()["git_commit"]  # MLflow's own tag for it
    return Entry(artifact, label, params, numbers, list(scores.get("history") or []), tags)


# ------------------------------------------------------------------------------------------------ MLflow
def mlflow_uri(cfg: Mapping[str, Any]) -> str:
    """``tracking.uri``, or the SQLite store ``sqlite:///<paths.results>/mlflow.db`` (an absolute path)."""
    uri = cfg["tracking"].get("uri")
    return uri or f"sqlite:///{Path(cfg['paths']['results']).resolve() / 'mlflow.db'}"


def _mlflow_experiment(cfg: Mapping[str, Any]) -> tuple[Any, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(cfg))  # a SQLite store creates its tables here
    name = cfg["tracking"].get("experiment") or "asc"
    found = client.get_experiment_by_name(name)
    return client, (found.experiment_id if found else client.create_experiment(name))


def _mlflow_record(cfg: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    from mlflow.entities import Metric, Param

    client, experiment = _mlflow_experiment(cfg)
    for e in entries:
        query = f"tags.`asc.artifact` = '{e.artifact}'"
        if client.search_runs([experiment], filter_string=query, max_results=1):
            continue
        run = client.create_run(experiment, run_name=e.label, tags=e.tags).info.run_id
        now = int(time.time() * 1000)
        last = int(e.history[-1]["epoch"]) if e.history else 0
        metrics = [Metric(k, v, now, last) for k, v in e.metrics.items()]
        for h in e.history:
            metrics += [
                Metric(name, float(h[k]), now, int(h["epoch"])) for k, name in HISTORY.items() if k in h
            ]
        params = [Param(k, v) for k, v in e.params.items()]
        for i in range(0, max(len(params), len(metrics)), BATCH):
            client.log_batch(run, metrics=metrics[i : i + BATCH], params=params[i : i + BATCH])
        client.set_terminated(run)


# ------------------------------------------------------------------------------------------------ TensorBoard
def tensorboard_dir(cfg: Mapping[str, Any]) -> Path:
    """``tracking.log_dir``, or ``<paths.results>/tensorboard``."""
    return Path(cfg["tracking"].get("log_dir") or Path(cfg["paths"]["results"]) / "tensorboard")


def _tensorboard_record(cfg: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for e in entries:
        final = tensorboard_dir(cfg) / e.artifact
        if final.is_dir():
            continue
        work = final.with_name(
            final.name + ".partial"
        )  # published by a rename: a killed job leaves no half run
        shutil.rmtree(work, ignore_errors=True)
        writer = SummaryWriter(log_dir=str(work))
        for h in e.history:
            for k, name in HISTORY.items():
                if k in h:
                    writer.add_scalar(f"history/{name}", float(h[k]), int(h["epoch"]))
        last = int(e.history[-1]["epoch"]) if e.history else 0
        for k, v in e.metrics.items():
            writer.add_scalar(f"final/{k}", v, last)
        writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in e.params.items()))
        writer.add_text("provenance", "\n".join(f"    {k}: {v}" for k, v in e.tags.items()))
        writer.close()
        os.rename(work, final)


# ------------------------------------------------------------------------------------------------ the choice
@dataclass(frozen=True)
class Backend:
    modules: tuple[str, ...]  # what must be importable (checked at planning)
    prepare: Callable[[Mapping[str, Any]], Any]
    record: Callable[[Mapping[str, Any], Sequence[Entry]], None]
    options: tuple[str, ...]


BACKENDS: dict[str, Backend | None] = {
    "none": None,
    "mlflow": Backend(
        ("mlflow", "sqlalchemy", "alembic"), _mlflow_experiment, _mlflow_record, ("uri", "experiment")
    ),
    "tensorboard": Backend(
        ("tensorboard",),
        lambda cfg: tensorboard_dir(cfg).mkdir(parents=True, exist_ok=True),
        _tensorboard_record,
        ("log_dir",),
    ),
}


def _backend(cfg: Mapping[str, Any]) -> Backend | None:
    return BACKENDS[(cfg.get("tracking") or {"name": "none"})["name"]]


def enabled(cfg: Mapping[str, Any]) -> bool:
    """Whether the config asks for a tracker (``tracking`` absent: none)."""
    return _backend(cfg) is not None


def check(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` (one line) for an unknown ``tracking.name``, an option of the wrong type, or a
    backend whose packages are not installed (naming the install command). Imports nothing."""
    import importlib.util

    t = cfg.get("tracking") or {"name": "none"}
    if t["name"] not in BACKENDS:
        raise ConfigError(f"tracking={t['name']!r} is not valid: expected one of {', '.join(BACKENDS)}")
    backend = BACKENDS[t["name"]]
    if backend is None:
        return
    for key in backend.options:
        if t.get(key) is not None and not (isinstance(t[key], str) and t[key].strip()):
            raise ConfigError(f"tracking.{key}={t[key]!r} is not valid: expected null or a non-empty text")
    missing = [m for m in backend.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"tracking={t['name']} needs the package(s) {', '.join(missing)}, not installed here: {INSTALL} "
            "(or choose tracking=none)"
        )


def _lock(cfg: Mapping[str, Any]) -> Any:
    from asc.core.locks import hold

    results = Path(cfg["paths"]["results"])
    results.mkdir(parents=True, exist_ok=True)
    return hold(str(results / "tracking.lock"), what="the experiment tracking store")


def prepare(cfg: Mapping[str, Any]) -> None:
    """Create the tracking store (MLflow: the SQLite tables and the experiment; TensorBoard: the folder) before
    any job records into it; nothing for ``tracking=none``."""
    backend = _backend(cfg)
    if backend is not None:
        with _lock(cfg):
            backend.prepare(cfg)


def record(cfg: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    """One run per entry whose artifact the store does not hold yet; nothing for ``tracking=none``."""
    backend = _backend(cfg)
    if backend is not None and entries:
        with _lock(cfg):
            backend.record(cfg, entries)
