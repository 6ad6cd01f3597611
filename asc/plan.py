"""The plan: every artifact a job needs, with its key, from the composed config alone; then its checks.

``make_plan(cfg)`` asks each stage of the chain (asc/chain.py) for its steps, handing it the steps of its
upstream stages; ``check_plan(steps, cfg)`` asks each stage to check its steps and then checks that the disks
hold what the missing artifacts will take. Neither builds anything, so what ``asc dry_run=true`` prints is
exactly what the executor (asc/execute.py) builds or reuses. Keys follow the data (each stage module says how);
the ``runtime`` node (speed, I/O) is never part of a key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.chain import CHAIN, artifact_dir
from asc.disk import check_disk, check_writable
from asc.rows import ROW_STAGE
from asc.split_files import fraction_of
from asc.step import Step
from asc.store import MANIFEST

log = logging.getLogger(__name__)


def make_plan(cfg: Mapping[str, Any]) -> list[Step]:
    """Every artifact of the job, in build order (stage by stage), each once."""
    planned: dict[str, list[Step]] = {}
    for stage in CHAIN:
        steps = stage.plan(cfg, {name: planned[name] for name in stage.upstream})
        planned[stage.name] = list({s.id: s for s in steps}.values())  # two blocks naming one run share it
    return [s for stage in CHAIN for s in planned[stage.name]]


def by_stage(steps: Sequence[Step]) -> dict[str, list[Step]]:
    return {stage.name: [s for s in steps if s.stage == stage.name] for stage in CHAIN}


def is_built(cfg: Mapping[str, Any], step: Step) -> bool:
    """Whether the store holds the step's finished artifact (its manifest is written last)."""
    return (artifact_dir(cfg["paths"], step.stage, step.key) / MANIFEST).is_file()


def check_plan(steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str) -> None:
    """Every stage's checks up to ``upto`` (one-line errors naming the file, key or value); then that the folders
    the job writes to are writable, that the results table it appends to is sound, and that the disks hold what
    the missing artifacts will take (per file system)."""
    from asc.results_check import check_results_table

    grouped, needs, writes = by_stage(steps), [], set()
    for stage in CHAIN[: [s.name for s in CHAIN].index(upto) + 1]:
        todo = grouped[stage.name]
        stage_needs = stage.check(todo, cfg)
        missing = {s.id for s in todo if not stage.store or not is_built(cfg, s)}
        needs += [need for step, need in stage_needs if step.id in missing]
        if stage.store and missing:
            writes.add(stage.store)
    for store in sorted(writes):
        check_writable(cfg["paths"][store], what=f"the {store} folder", setting=f"paths.{store}")
    if any(grouped[name] for name in ROW_STAGE):
        results = Path(cfg["paths"]["results"])
        check_writable(results, what="the results folder", setting="paths.results")
        if (results / "results.csv").exists():
            check_results_table(results / "results.csv")
    check_disk(needs)


def approx_examples_per_epoch(cfg: Mapping[str, Any]) -> Callable[[Step], int]:
    """Training examples per epoch of a train or finetune step, estimated before the index exists."""
    held = approx_train_examples(dict(cfg, finetune={**cfg["finetune"], "train_on": "train"}))
    fold = approx_train_examples(dict(cfg, finetune={**cfg["finetune"], "train_on": "fold1_train"}))
    pool = approx_train_examples(cfg)

    def approx(step: Step) -> int:
        if step.stage == "train":  # fold1_train minus the hold-out, or an official split of all of it
            return math.floor(fold * fraction_of(step.args["split"]) + 0.5) if "split" in step.args else held
        return math.floor(pool * step.args["fraction"] + 0.5)

    return approx


def approx_train_examples(cfg: Mapping[str, Any]) -> int:
    """Clips of the training pool before the index exists: fold1_train minus the validation share."""
    d = cfg["dataset"]
    if d["name"] == "demo":
        from asc.data.demo import pieces, plan_clips  # pure: the demo's clip list follows from its config

        n = pieces(d) * sum(1 for c in plan_clips(d) if c.split == "train")
    elif d["name"] == "standin":
        from asc.data.standin import expected_counts

        n = expected_counts(float(d["scale"]), int(d.get("pieces", 1)))["train"]
    else:
        n = int((d.get("expected_counts") or {}).get("train", 0))
    return (
        n if cfg["finetune"]["train_on"] == "fold1_train" else math.ceil(n * (1 - d["validation"]["amount"]))
    )
