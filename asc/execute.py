"""Executing a plan (asc/plan.py): build what the store lacks, stage by stage along asc/chain.py, record rows.

This is the only code that touches the store and the results table. Stage modules (asc/stages/) get explicit
arguments and return models, scores and row fields; here they are saved as artifacts. Training steps that share
an architecture are handed to one ``train_many`` call (one fused pass), each artifact under its own lock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from asc import results
from asc.atomic import atomic_write_json
from asc.chain import STAGES, STORE_OF
from asc.checks import require_finite
from asc.complexity import complexity
from asc.cost import cost_columns, machine_info
from asc.data.tau import SCENES
from asc.device import resolve_device
from asc.evaluate import metrics, predict_many
from asc.features import FrontEnd
from asc.model import BaselineCNN, build_model, load_model, save_model
from asc.plan import Step, build_config
from asc.rows import make_row
from asc.splits import Split, Splits, load_splits
from asc.stages import dataset as dataset_stage
from asc.stages import features as features_stage
from asc.stages import finetune as finetune_stage
from asc.stages import index as index_stage
from asc.stages import prune as prune_stage
from asc.stages import report as report_stage
from asc.stages import train as train_stage
from asc.store import Artifact, Store
from asc.train import Recipe

log = logging.getLogger(__name__)

Batch = list[tuple[Step, Path]]


class Executor:
    """Where artifacts live and how fast to go; the stage order itself is :data:`asc.chain.STAGES`."""

    def __init__(self, cfg: Mapping[str, Any]):
        self.cfg = cfg
        self.rt = cfg["runtime"]
        self.stores = {"data": Store(cfg["paths"]["data"]), "store": Store(cfg["paths"]["store"])}
        self.results_dir = Path(cfg["paths"]["results"])
        self.device = resolve_device(self.rt["device"])
        self.root: Path | None = None  # the dataset folder, once the dataset stage ran
        self.done: dict[str, Artifact] = {}  # step id -> its finished artifact

    # ------------------------------------------------------------------ plumbing
    def artifact(self, step: Step) -> Artifact:
        root = self.stores[STORE_OF[step.stage]].root
        return Artifact(step.stage, step.key, root / step.stage / step.key)

    def build_one(self, step: Step, builder: Callable[[Path], dict[str, Any] | None]) -> Artifact:
        art = self.artifact(step)
        ups = [self.done[u] for u in step.upstream]
        store = self.stores[STORE_OF[step.stage]]
        self.done[step.id] = store.build(art, builder, config=step.config, upstream=ups, describe=step.label)
        return self.done[step.id]

    def build_batch(self, steps: Sequence[Step], builder: Callable[[Batch], None]) -> None:
        """Build the missing artifacts of ``steps`` with ONE ``builder([(step, work), ...])`` call, each artifact
        under its own lock (taken in plan order, so concurrent jobs cannot deadlock). An artifact finished by
        another job while we waited is reused; one whose work folder already holds its row (a job killed while
        publishing) is published without training again."""
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

            self.build_one(steps[i], build)
            if not called:  # up to date or built by another job: go on with the others
                nested(i + 1, batch)

        nested(0, [])

    def record(self, steps: Sequence[Step]) -> None:
        rows = [(self.artifact(s).path / "row.json") for s in steps]
        results.append(self.results_dir / "results.csv", [_read_json(p) for p in rows if p.is_file()])

    @cached_property
    def splits(self) -> Splits:
        feats = next(a for a in self.done.values() if a.stage == "features")
        index = next(a for a in self.done.values() if a.stage == "index")
        return load_splits(feats.path, index.path)

    @cached_property
    def full_complexity(self) -> dict[str, int]:
        return complexity(build_model(self.model_spec))  # counts depend on the widths only

    @property
    def model_spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.cfg["model"].items() if k != "name"}

    def train_options(self, stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
        """train_many's keyword arguments: the stage's precision (it changes results, so it is keyed) and the
        runtime's speed settings."""
        rt = self.rt
        return {
            "device": self.device,
            "fuse": bool(rt["fuse"]),
            "eval_batch_size": int(rt["eval_batch_size"]),
            "channels_last": bool(rt["channels_last"]),
            "compile": bool(rt["compile"]),
            "progress": rt["progress"],
            "precision": stage_cfg["precision"],
        }

    def evaluate(self, models: Sequence[BaselineCNN]) -> list[dict[str, Any]]:
        """Metrics of every model on the evaluation split, all models in one batched pass."""
        ev = self.splits.evaluate
        probs = predict_many(
            list(models), ev.x, batch_size=int(self.rt["eval_batch_size"]), device=self.device
        )
        return [metrics(p, ev.y.numpy(), ev.rows["device"].tolist(), SCENES) for p in probs]

    def finish(
        self, step: Step, work: Path, model: BaselineCNN, scores: dict, extra: dict, **fields: Any
    ) -> None:
        """Write one evaluated model's artifact: model.pt (carrying its config), metrics.json, row.json."""
        model = model.cpu()
        require_finite(f"{step.label}: weights", model.state_dict())
        require_finite(f"{step.label}: metrics", {k: scores[k] for k in ("accuracy", "log_loss")})
        save_model(model, work / "model.pt", config=dict(step.config), label=step.label)
        atomic_write_json(work / "metrics.json", {**scores, **extra})
        final = self.artifact(step).path
        counted = complexity(model)
        lat = self.rt["latency"]
        cost = cost_columns(
            model.spec,
            counted["params_keras"],
            measure=bool(lat["measure"]),
            backends=lat["backends"],
            batch_sizes=tuple(lat["batch_sizes"]),
            repeats=int(lat["repeats"]),
            budget_s=float(lat["budget_s"]),
        )
        row = make_row(
            stage=step.stage if step.stage != "train" else "baseline",
            run_id=f"{step.stage}/{step.key}",
            dataset=self.cfg["dataset"]["name"],
            scores=scores,
            complexity=counted,
            full=self.full_complexity,
            checkpoint=str(final / "model.pt"),
            **cost,
            **fields,
        )
        atomic_write_json(work / "row.json", row)
        (work / "last.pt").unlink(missing_ok=True)

    # ------------------------------------------------------------------ the stages
    def dataset(self, step: Step) -> None:
        d = self.cfg["dataset"]
        build = dataset_stage.build
        if d["name"] in dataset_stage.GENERATED:
            art = self.build_one(
                step,
                lambda work: build(d, work=work, workers=self.rt["workers"], progress=self.rt["progress"]),
            )
            self.root = art.path
        else:  # TAU lives at dataset.root (where the user keeps it), not in the store; it checks itself
            f = self.cfg["features"]
            build(
                d,
                work=None,
                workers=self.rt["workers"],
                progress=self.rt["progress"],
                features_dir=self.stores["data"].root / "features",
                n_mels=int(f["n_mels"]),
                frames=int(f["frames"]),
            )
            self.root = Path(d["root"])
            self.done[step.id] = Artifact(step.stage, step.key, self.root)

    def index(self, step: Step) -> None:
        d = self.cfg["dataset"]
        v = d["validation"]
        self.build_one(
            step,
            lambda work: index_stage.build(
                self.root,
                work,
                method=v["method"],
                amount=float(v["amount"]),
                seed=int(v["seed"]),
                expected_counts=d.get("expected_counts") or {},
                audio=d["name"] not in dataset_stage.FEATURES_ONLY,
            ),
        )

    def features(self, step: Step) -> None:
        f, d = self.cfg["features"], self.cfg["dataset"]
        frontend = FrontEnd(**{k: v for k, v in f.items() if k != "name"})
        render_seed = int(d["seed"]) if d["name"] in dataset_stage.FEATURES_ONLY else None
        self.build_one(
            step,
            lambda work: features_stage.build(
                self.root,
                work,
                frontend=frontend,
                clip_seconds=float(self.cfg["dataset"]["clip_seconds"]),
                batch_size=int(self.rt["feature_batch_size"]),
                workers=int(self.rt["workers"]),
                device=self.device,
                progress=self.rt["progress"],
                render_seed=render_seed,
            ),
        )

    def train(self, steps: Sequence[Step]) -> None:
        t = self.cfg["train"]

        def build(batch: Batch) -> None:
            if t.get("init_from"):
                trained = [train_stage.from_file(Path(step.args["init_from"])) for step, _ in batch]
            else:
                trained = train_stage.build_many(
                    [w for _, w in batch],
                    seeds=[s.args["seed"] for s, _ in batch],
                    spec=self.model_spec,
                    recipe=_recipe(t),
                    train=self.splits.train,
                    select=self.splits.selection(t["select_on"]),
                    options=self.train_options(t),
                )
            scores = self.evaluate([m for m, _ in trained])
            for (step, work), (model, history), score in zip(batch, trained, scores, strict=True):
                self.finish(
                    step,
                    work,
                    model,
                    score,
                    history,
                    criterion="none",
                    layers="",
                    seed=step.args["seed"],
                    train_time_s=history["train_seconds"],
                    epochs=history["epochs"],
                    select_on=t["select_on"],
                    train_examples=len(self.splits.train.y),
                )

        self.build_batch(steps, build)
        self.record(steps)

    def prune(self, steps: Sequence[Step]) -> None:
        for step in steps:

            def build(work: Path, step: Step = step) -> dict[str, Any]:
                baseline, _ = load_model(self.done[step.upstream[0]].path / "model.pt")
                model, info, fields = prune_stage.build(baseline, build_config(step))
                (score,) = self.evaluate([model])
                atomic_write_json(work / "info.json", info)
                self.finish(step, work, model, score, {}, **fields)
                kept = fields["kept"]
                log.info(
                    "pruned %s: kept %s, accuracy before fine-tuning %.4f",
                    step.label,
                    kept,
                    score["accuracy"],
                )
                return {"widths": model.spec["widths"], "accuracy": score["accuracy"]}

            self.build_one(step, build)
        self.record(steps)

    def finetune(self, steps: Sequence[Step]) -> None:
        f = self.cfg["finetune"]
        pool, select = self.splits.pool(f["train_on"]), self.splits.selection(f["select_on"])
        finetune_stage.check_fractions(pool.rows, sorted({s.args["fraction"] for s in steps}))
        pruned = {s.upstream[0]: load_model(self.done[s.upstream[0]].path / "model.pt")[0] for s in steps}
        groups: dict[tuple[int, ...], list[Step]] = {}
        for s in steps:  # one fused pass per architecture
            groups.setdefault(tuple(pruned[s.upstream[0]].spec["widths"]), []).append(s)
        for widths, group in groups.items():
            log.info("fine-tuning %d network(s) of widths %s in one pass", len(group), list(widths))
            self.build_batch(group, lambda batch: self._finetune_batch(batch, pruned, pool, select))
        self.record(steps)

    def _finetune_batch(
        self, batch: Batch, pruned: dict[str, BaselineCNN], pool: Split, select: Split
    ) -> None:
        f = self.cfg["finetune"]
        jobs = [
            finetune_stage.Job(
                work,
                _copy(pruned[s.upstream[0]]),
                s.args["fraction"],
                s.args["seed"],
                s.args["subset_seed"],
                s.label,
            )
            for s, work in batch
        ]
        trained = finetune_stage.build_many(
            jobs, pool=pool, select=select, recipe=_recipe(f), options=self.train_options(f)
        )
        scores = self.evaluate([m for m, _ in trained])
        for (step, work), (model, history), score in zip(batch, trained, scores, strict=True):
            prune_row = _read_json(self.done[step.upstream[0]].path / "row.json")
            keep = {k: prune_row[k] for k in ("criterion", "layers", "kept", "kept_indices", "macs_paper")}
            self.finish(
                step,
                work,
                model,
                score,
                history,
                **keep,
                fraction=step.args["fraction"],
                repeat=step.args["repeat"],
                seed=step.args["seed"],
                train_time_s=history["train_seconds"],
                epochs=history["epochs"],
                select_on=f["select_on"],
                train_examples=history["train_examples"],
            )
            log.info(
                "fine-tuned %s on %d examples: accuracy %.4f in %.1f s",
                step.label,
                history["train_examples"],
                score["accuracy"],
                history["train_seconds"],
            )


def execute(steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str, report: bool = True) -> str | None:
    """Bring every step up to ``upto`` (a stage name) up to date; with ``report``, write the report and return
    the summary table (Markdown)."""
    ex = Executor(cfg)
    last = STAGES.index(upto)
    by_stage = {stage: [s for s in steps if s.stage == stage] for stage in STAGES}
    for stage in STAGES[: last + 1]:
        if stage == "report":
            break
        todo = by_stage[stage]
        if stage in ("dataset", "index", "features"):
            for step in todo:
                getattr(ex, stage)(step)
        elif todo:
            getattr(ex, stage)(todo)
    if upto == "report" and report:
        atomic_write_json(
            ex.results_dir / "machine.json", machine_info()
        )  # where the latencies were measured
        return report_stage.build(ex.results_dir, cfg["dataset"]["name"])
    return None


def _recipe(stage_cfg: Mapping[str, Any]) -> Recipe:
    return Recipe(
        epochs=int(stage_cfg["epochs"]),
        batch_size=int(stage_cfg["batch_size"]),
        lr=float(stage_cfg["lr"]),
        adam_eps=float(stage_cfg["adam_eps"]),
        select_after=int(stage_cfg["select_after"]),
    )


def _copy(model: BaselineCNN) -> BaselineCNN:
    new = build_model(model.spec)
    new.load_state_dict(model.state_dict())
    return new


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
