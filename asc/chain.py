"""The stage chain, declared once: dataset → index → features → train → prune → finetune → report.

For each stage: its name, the config subtree that keys its artifacts, the stages it reads, and the function (in
the stage's own module under asc/stages/) that builds one artifact — or, for the training stages, one batch of
same-architecture artifacts in one (fused) pass. asc/plan.py turns a config into keyed steps along this chain;
asc/execute.py builds the missing ones, stage by stage, and is the only code that touches the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asc.stages import dataset, finetune, index, prune, report, train
from asc.stages import features as features_stage


@dataclass(frozen=True)
class Stage:
    name: str
    keyed_by: str  # the config subtree (plus upstream keys) that its artifact keys hash
    upstream: tuple[str, ...]
    build: Callable[..., object]
    store: str = "store"  # "data" (datasets, features: shared by every experiment) | "store" | "" (none)


CHAIN: tuple[Stage, ...] = (
    Stage(
        "dataset",
        "dataset content (demo: generator settings; TAU: archives, sizes, MD5s)",
        (),
        dataset.build,
        store="data",
    ),
    Stage("index", "dataset.validation", ("dataset",), index.build),
    Stage("features", "features", ("dataset",), features_stage.build, store="data"),
    Stage(
        "train",
        "model, train recipe, seed (or the train.init_from file's digest)",
        ("features", "index"),
        train.build_many,
    ),
    Stage("prune", "one criterion config (runs / prune)", ("train",), prune.build),
    Stage(
        "finetune", "finetune recipe, fraction, repeat", ("prune", "features", "index"), finetune.build_many
    ),
    Stage("report", "nothing: reads the results table", ("prune", "finetune"), report.build, store=""),
)
STAGES: tuple[str, ...] = tuple(s.name for s in CHAIN)
STORE_OF: dict[str, str] = {
    s.name: s.store for s in CHAIN
}  # stage -> "data" | "store" | "": its paths.* root
