"""The plan: every artifact a job needs, with its key, from the composed config alone; then its checks.

``make_plan(cfg)`` asks each stage of the chain (asc/pipeline/chain.py) for its steps, handing it the steps of its
upstream stages; ``check_plan(steps, cfg)`` asks each stage to check its steps and then checks that the disks
hold what the missing artifacts will take. Neither builds anything, so what ``asc dry_run=true`` prints is
exactly what the executor (asc/pipeline/execute.py) builds or reuses. Keys follow the data (each stage module says how);
the ``runtime`` node (speed, I/O) is never part of a key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from asc.core.disk import Need, check_disk, check_writable
from asc.data.split_files import fraction_of
from asc.pipeline.chain import CHAIN, STORE_OF, artifact_dir
from asc.pipeline.stages.index import approx_fold_clips
from asc.pipeline.step import Step
from asc.pipeline.store import MANIFEST
from asc.report.rows import FAMILY_AT, ROW_STAGE, less_family

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


# Stages whose damaged artifacts are deleted and built again (data: the same inputs give the same bytes); a
# damaged model is refused instead (on a GPU a retrained one differs, and everything downstream hangs from it).
REBUILT_WHEN_DAMAGED = ("dataset", "index", "features")


def damage(cfg: Mapping[str, Any], step: Step) -> str | None:
    """Why a built artifact is damaged, as far as sizes tell (asc.pipeline.manifest.sizes_problem), or None."""
    from asc.pipeline.manifest import sizes_problem

    if not STORE_OF[step.stage] or not is_built(cfg, step):
        return None
    return sizes_problem(artifact_dir(cfg["paths"], step.stage, step.key))


def _refuse_damaged_models(steps: Sequence[Step], damaged: Mapping[str, str], cfg: Mapping[str, Any]) -> None:
    """``damaged``: step id → why (:func:`damage`) for the steps whose stored artifact is damaged."""
    from asc.pipeline.manifest import DamagedArtifactError

    for step in steps:
        if step.stage not in REBUILT_WHEN_DAMAGED and step.id in damaged:
            folder = artifact_dir(cfg["paths"], step.stage, step.key)
            raise DamagedArtifactError(
                f"{step.stage} {step.key} ({step.label}): the stored artifact {folder} is damaged: "
                f"{damaged[step.id]}; delete {folder} and rerun to rebuild it (found while planning: nothing was "
                "built)"
            )


class Checked(NamedTuple):
    """What :func:`check_plan` found besides its refusals."""

    unseen: frozenset[
        str
    ]  # stages whose content did not exist yet: the executor checks their successors again
    needs: list[Need]  # the bytes the missing artifacts will write, where (the dry run's disk lines)


def check_plan(steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str) -> Checked:
    """Every stage's checks up to ``upto`` (one-line errors naming the file, key or value); then that the folders
    the job writes to are writable, that the results table it appends to is sound, and that the disks hold what
    the missing artifacts will take (per file system).

    Returns the stages whose content did not exist yet (``Stage.ready``, asked before any check reads it): the
    executor repeats the later stages' checks once such a stage has run (asc/pipeline/execute.py); and the disk needs."""
    from asc.core.outputs import check_results_folder
    from asc.report.results_check import check_results_table

    chain = CHAIN[: [s.name for s in CHAIN].index(upto) + 1]
    unseen = frozenset(stage.name for stage in chain if not stage.ready(cfg))
    grouped, needs, writes = by_stage(steps), [], set()
    for stage in chain:
        todo = grouped[stage.name]
        stage_needs = stage.check(todo, cfg)
        damaged = {s.id: why for s in todo if (why := damage(cfg, s))}
        _refuse_damaged_models(todo, damaged, cfg)
        missing = {s.id for s in todo if not stage.store or not is_built(cfg, s) or s.id in damaged}
        needs += [replace(need, artifact=step.id) for step, need in stage_needs if step.id in missing]
        if stage.store and missing:
            writes.add((stage.store, stage.name))
    for store, name in sorted(writes):  # the stage's own folder: it may be read-only where its store is not
        folder = Path(cfg["paths"][store]) / name
        check_writable(folder, what=f"the {store} folder's {name}/", setting=f"paths.{store}")
    if any(grouped[name] for name in ROW_STAGE):
        results = Path(cfg["paths"]["results"])
        check_results_folder(results)  # its files asc did not write (asc/core/outputs.py)
        check_writable(results, what="the results folder", setting="paths.results")
        if (results / "results.csv").exists():
            check_results_table(results / "results.csv")
            _refuse_pooling(results / "results.csv", steps, cfg)
    check_disk(needs)
    return Checked(unseen, needs)


def _pooling_rows(table: Path) -> Iterator[tuple[int, str, str, tuple[str, ...]]]:
    """(line, dataset, run id, :func:`asc.report.rows.pooling_key`) of each row of the results table; nothing when the
    table lacks the columns that say what a row is."""
    import pandas as pd

    from asc.report.rows import pooling_key

    rows = pd.read_csv(table, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if not {"run_id", "stage", "dataset"} <= set(rows.columns):
        return
    for line, row in zip(range(2, len(rows) + 2), rows.to_dict("records"), strict=True):
        yield line, row["dataset"], row["run_id"], pooling_key(row)


def _refuse_pooled_rows(table: Path) -> None:
    """Two rows of one dataset label that the report would pool as repeats but that were built otherwise (two run
    ids for one :func:`asc.report.rows.pooling_key`): written by jobs of different setups into one folder."""
    from asc.report.results_check import ResultsTableError

    seen: dict[tuple[str, ...], tuple[int, str]] = {}  # (dataset, key): the first row
    loose: dict[
        tuple[str, ...], tuple[int, str]
    ] = {}  # (dataset, key less family): the first row of any family
    blank: dict[tuple[str, ...], tuple[int, str]] = {}  # the same, of rows without a family (no model_spec)
    for line, dataset, run_id, key in _pooling_rows(table):
        free = (dataset, *less_family(key))
        if key[FAMILY_AT]:  # two families' rows never pool; a row without a model_spec pools with any
            firsts = [seen.setdefault((dataset, *key), (line, run_id)), blank.get(free)]
        else:
            firsts = [loose.get(free), blank.setdefault(free, (line, run_id))]
        loose.setdefault(free, (line, run_id))
        first = next((f for f in firsts if f is not None and f[1] != run_id), (line, run_id))
        if first[1] != run_id:
            raise ResultsTableError(
                f"results table {table}, line {line}: {run_id} and line {first[0]} ({first[1]}) "
                "are the same run of different setups (recipe, model or option); the tables would pool them as "
                "repeats: keep each setup's rows in a results folder of its own"
            )


def _refuse_pooling(table: Path, steps: Sequence[Step], cfg: Mapping[str, Any]) -> None:
    """The report pools the rows of one dataset label that agree on what a row is (asc.report.rows.pooling_key: stage,
    criterion, layers, fraction, repeat, baseline seed) as repeats. A row of the table that agrees with a step of
    this job but was built otherwise (another run id: another recipe, model or criterion option) would count as a
    repeat of it: refuse, naming the line."""
    from asc.pipeline.stages.dataset import results_label
    from asc.report.results_check import ResultsTableError
    from asc.report.rows import step_pooling_key

    ours = [s for s in steps if s.stage in ("train", "prune", "finetune")]
    if not ours:
        return
    label = results_label(cfg, ours)
    seen: dict[tuple[str, ...], tuple[int, str]] = {}
    for line, dataset, run_id, key in _pooling_rows(table):
        if dataset == label:  # a row without a model_spec (no family) pools with any family's
            seen.setdefault(key if key[FAMILY_AT] else less_family(key), (line, run_id))
    for step in ours:
        key = step_pooling_key(step)
        found = seen.get(key) or seen.get(less_family(key))
        if found and found[1] != step.id:
            results = Path(cfg["paths"]["results"])
            raise ResultsTableError(
                f"results table {table}, line {found[0]}: {step.stage} {step.label} of {label} built otherwise "
                f"({found[1]}, not {step.id}: another recipe, model or option); the tables would pool both as "
                f"repeats: give this job its own paths.results (e.g. paths.results={results}_2), or move the "
                "table aside"
            )


def check_report_only(results: str | Path) -> None:
    """``report_only=true`` rewrites the tables beside the results table: that table sound, its folder writable."""
    from asc.pipeline.stages.report import REPORT_BYTES
    from asc.report.results_check import check_results_table

    check_writable(results, what="the results folder", setting="paths.results")
    if (Path(results) / "results.csv").exists():
        check_results_table(Path(results) / "results.csv")
        _refuse_pooled_rows(Path(results) / "results.csv")
    check_disk([Need(Path(results), REPORT_BYTES, "the report", "point paths.results at a larger disk")])


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
    n = approx_fold_clips(cfg)
    return (
        n
        if cfg["finetune"]["train_on"] == "fold1_train"
        else math.ceil(n * (1 - d["validation"].get("amount", 0.0)))
    )
