"""What a stage's ``run`` gets: where artifacts live, how to build them under their locks, the device, the
runtime options, the features in memory and the results table. Nothing here knows a stage by name, and nothing
here imports the chain or a stage: the executor hands over which store each stage's artifacts live in and how
results rows name their dataset (so the stages may name this type without an import circle).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.data.tasks import Task, classes_of, task_of
from asc.pipeline.step import Step
from asc.pipeline.store import Artifact, Store
from asc.report import results
from asc.training.speed import SpeedOptions

Batch = list[tuple[Step, Path]]  # (step, its work folder) pairs that one builder call builds together


class Context:
    def __init__(
        self,
        cfg: Mapping[str, Any],
        *,
        store_of: Mapping[str, str],
        results_label: Callable[[Mapping[str, Any], Sequence[Step]], str],
        write_report: bool = True,
    ):
        """``store_of``: stage name → the ``paths`` key its artifacts live under ("" for none: asc/pipeline/chain.py);
        ``results_label(cfg, steps)``: the results rows' dataset name (asc/pipeline/stages/dataset.py)."""
        from asc.training.device import resolve_device

        self.cfg = cfg
        self.store_of, self.results_label = dict(store_of), results_label
        self.runtime = cfg["runtime"]
        self.device = resolve_device(self.runtime["device"])
        self.results = Path(cfg["paths"]["results"])
        self.write_report = write_report  # a multirun's jobs leave the report to its end (asc/app/cli.py)
        self._stores = {name: Store(cfg["paths"][name]) for name in ("data", "store")}
        self._splits: dict[tuple[str, str], Any] = {}
        self.progress: Any = (
            None  # the executor's asc.pipeline.job_progress.JobProgress: told of every finished artifact
        )

    def path(self, step: Step) -> Path:
        """The step's finished artifact folder (it exists once the step is built)."""
        return Path(self.cfg["paths"][self.store_of[step.stage]]) / step.stage / step.key

    def build(
        self, step: Step, builder: Callable[[Path], dict[str, Any] | None], *, rebuild_damaged: bool = False
    ) -> Path:
        """``builder(work)`` under the artifact's lock unless it is built (a reused artifact is verified against
        its manifest first); returns the artifact folder. ``rebuild_damaged``: a damaged artifact is deleted and
        built again (artifacts whose content does not depend on the run: datasets, index, features) instead of
        being refused (models: what was built from them would no longer match)."""
        art = Artifact(step.stage, step.key, self.path(step))
        ups = [Artifact(u.stage, u.key, self.path(u)) for u in step.upstream if self.store_of[u.stage]]
        damaged = "rebuild" if rebuild_damaged else "refuse"
        store = self._stores[self.store_of[step.stage]]
        store.build(art, builder, config=step.config, upstream=ups, describe=step.label, damaged=damaged)
        if self.progress is not None:
            self.progress.finished(step)
        return art.path

    def build_batch(self, steps: Sequence[Step], builder: Callable[[Batch], None]) -> None:
        """Build the missing artifacts of ``steps`` with ONE ``builder([(step, work), ...])`` call (one fused
        training pass), each artifact under its own lock, taken in plan order so that concurrent jobs cannot
        deadlock. An artifact another job finished while we waited is reused; one whose work folder already
        holds its row (a job killed while publishing) is published without building again."""
        steps = list(steps)

        def nested(i: int, batch: Batch) -> None:
            if i == len(steps):
                if batch:
                    builder(batch)
                return
            called = False

            def build(work: Path) -> dict[str, Any]:
                nonlocal called
                called = True
                nested(i + 1, batch if (work / "row.json").is_file() else [*batch, (steps[i], work)])
                return {}

            self.build(steps[i], build)
            if not called:  # up to date or built by another job: go on with the others
                nested(i + 1, batch)

        nested(0, [])

    def record(self, steps: Sequence[Step]) -> None:
        """Append the results rows of ``steps`` (their artifacts' row.json) to the results table, and record
        each artifact as a run of the experiment tracker (``tracking``: asc/report/tracking.py)."""
        from asc.report import tracking

        rows = [json.loads((self.path(s) / "row.json").read_text()) for s in steps]
        results.append(self.results / "results.csv", rows)
        if tracking.enabled(self.cfg):
            ups = {s.id: {u.stage: u.key for u in s.upstream} for s in steps}
            entries = [tracking.entry(s.id, s.label, s.config, ups[s.id], self.path(s)) for s in steps]
            tracking.record(self.cfg, entries)

    def publish(self, step: Step, work: Path, model: Any, scores: Mapping[str, Any], **fields: Any) -> None:
        """One evaluated model as the step's artifact, built in ``work`` (asc/pipeline/publish.py: checkpoint, metrics,
        results row); ``fields`` go to :func:`asc.pipeline.publish.publish` (``full``, ``extra``, the row's own fields)."""
        from asc.pipeline.publish import publish
        from asc.report.rows import fold_of

        d = self.cfg["dataset"]
        rule = d.get("complexity_rule", "dcase2021")
        label = self.results_label(self.cfg, [step])
        from asc.nets import input_shape_of
        from asc.nets.cost import front_end_macs

        net = (self.cfg["model"], input_shape_of(self.cfg["model"], self.cfg["features"]))
        fields.setdefault("frontend_macs", front_end_macs(self.cfg["features"]))  # per clip, not in ``macs``
        # a set with folds (ESC-50): the row's test fold, part of the pooling key (asc/pipeline/cross_validation.py)
        fold = fold_of(step)
        if fold:
            fields.setdefault("fold", int(fold))
        publish(
            step,
            work,
            model,
            scores,
            final=self.path(step),
            dataset=label,
            rule=rule,
            task=self.task,
            net=net,
            **fields,
        )

    @property
    def task(self) -> Task:
        """The dataset's task (asc.data.tasks): its loss, output, metrics and selection."""
        return task_of(self.cfg["dataset"])

    def splits(self, step: Step) -> Any:
        """The features of the three splits (asc.frontend.splits.Splits) of a step that reads features and an index,
        loaded once per job."""
        from asc.frontend.splits import load_splits

        feats, index = step.up("features"), step.up("index")
        key = (feats.key, index.key)
        if key not in self._splits:
            classes = classes_of(self.cfg["dataset"]) if self.task.multi_label else None
            self._splits[key] = load_splits(self.path(feats), self.path(index), classes)
        return self._splits[key]

    def train_options(self, precision: str) -> dict[str, Any]:
        """``train_many``'s arguments besides the runs and data: the runtime's :class:`asc.training.speed.SpeedOptions`
        (built once per job), the recipe's precision (keyed) and the task. After every epoch the job checks that
        it still holds its artifacts' locks: a job suspended past the stale timeout stops, rather than build what
        another job has taken over."""
        from asc.core.locks import ensure_held

        return {
            "speed": self.speed,
            "precision": precision,
            "on_epoch_end": lambda run, epoch: ensure_held(),
            "task": self.task,
        }

    @functools.cached_property
    def speed(self) -> SpeedOptions:
        """How training runs (speed only, never keyed): the config's ``runtime`` node on this job's device."""
        return SpeedOptions.of_runtime(self.runtime, self.device)
