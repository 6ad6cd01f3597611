"""The stage chain, declared once: dataset → index → features → train → prune → teacher → finetune → perdevice → quantise → report.

Each stage is one module under asc/pipeline/stages/ with three functions, and this list is the only place that names them:

- ``plan(cfg, up) -> list[Step]``: the stage's artifacts with their keys, from the config and the steps of its
  upstream stages (``up[name]``); pure, except that a user-named file or folder is read to key it by content;
- ``check(steps, cfg) -> list[Need]``: everything that can be known before building, reading only what the user
  named; raises a one-line :class:`~asc.core.errors.InputError`; returns the disk space each artifact will take;
- ``run(steps, ctx)``: builds the steps the store lacks (asc/pipeline/context.py) and records their results rows;
- optionally ``ready(cfg) -> bool``: whether the content this stage makes exists already (see :meth:`Stage.ready`);
- optionally, a stage without a store, ``current(steps, cfg) -> bool``: whether what it makes is up to date (see
  :meth:`Stage.current`).

asc/pipeline/plan.py and asc/pipeline/execute.py are loops over this list. Adding a stage is one module and one line here.
``store`` is the ``paths.*`` root its artifacts live under: ``data`` (datasets, features: shared by every
experiment), ``store`` (models), or ``""`` (none: the report, beside the results table, with a record of its own).

Stage modules import torch only inside ``run``, so planning, checking and ``asc dry_run=true`` load none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from asc.pipeline.stages import (
    dataset,
    features,
    finetune,
    index,
    perdevice,
    prune,
    quantise,
    report,
    teacher,
    train,
)


@dataclass(frozen=True)
class Stage:
    name: str
    upstream: tuple[str, ...]
    store: str  # "data" | "store" | ""
    module: ModuleType  # asc/pipeline/stages/<name>.py: plan, check, run

    @property
    def plan(self) -> Any:
        return self.module.plan

    @property
    def check(self) -> Any:
        return self.module.check

    @property
    def run(self) -> Any:
        return self.module.run

    def ready(self, cfg: Any) -> bool:
        """Whether what this stage makes already exists as later stages' checks read it (a module's ``ready``,
        e.g. a dataset still to be downloaded is not): if not, the executor repeats those checks after the
        stage has run, so a job that planned before the content existed refuses what one that planned after
        would refuse."""
        return bool(getattr(self.module, "ready", lambda cfg: True)(cfg))

    def current(self, steps: Any, cfg: Any) -> bool:
        """Whether the ``steps`` of a stage without a store are up to date with what the store holds now (a
        module's ``current``, e.g. the report's record matches the results table): if so, and nothing upstream
        is to be built, the job's start line counts them as cached. False without one."""
        return bool(getattr(self.module, "current", lambda steps, cfg: False)(steps, cfg))


CHAIN: tuple[Stage, ...] = (
    Stage("dataset", (), "data", dataset),
    Stage("index", ("dataset",), "store", index),
    Stage("features", ("dataset",), "data", features),
    Stage("train", ("features", "index"), "store", train),
    Stage(
        "prune", ("train", "features", "index"), "store", prune
    ),  # features: a schedule's short fine-tunings
    Stage("teacher", ("prune", "features", "index"), "store", teacher),
    Stage("finetune", ("prune", "features", "index"), "store", finetune),
    Stage("perdevice", ("finetune", "features", "index"), "store", perdevice),
    Stage("quantise", ("train", "prune", "finetune", "perdevice", "features", "index"), "store", quantise),
    Stage("report", ("train", "prune", "finetune", "perdevice"), "", report),
)
STAGES: tuple[str, ...] = tuple(s.name for s in CHAIN)
STORE_OF: dict[str, str] = {s.name: s.store for s in CHAIN}


def artifact_dir(paths: dict[str, Any], stage: str, key: str) -> Path:
    """Where the artifact ``stage/key`` lives: ``<paths.data | paths.store>/<stage>/<key>``."""
    return Path(paths[STORE_OF[stage]]) / stage / key
