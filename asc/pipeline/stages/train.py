"""Stage ``train``: the baseline(s) — one per seed of ``train.seeds``, trained in one (fused) pass — or a model
file the user gives (``train.init_from``: a Keras .h5 or an asc checkpoint), evaluated like a trained one.

Key: the model, the recipe and the seed; for a given file, the model config and the file's SHA-256 (its bytes,
not its path). Checked before anything is built: the model's classes, mel bands and frames against the dataset
and the features (for a given file, the file's own; a mismatch names both values).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.data import split_files
from asc.pipeline.stages.baseline import (  # noqa: F401 - baseline_spec, model_need: also read from here
    baseline_spec,
    check_model,
    check_zoo,
    model_need,
)
from asc.pipeline.step import Step, make_step
from asc.training import bn_stats, patch_examples
from asc.training.recipes import DEFAULTS, keyed, selected_on
from asc.training.sampling import UNIFORM

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)

RECIPE_KEYS = ("epochs", "batch_size", "lr", "adam_eps", "select_after", "select_on", "precision")


def recipe(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The keyed part of a training config (train, finetune or perdevice): what changes the trained weights and
    their evaluation. ``sampling``, ``bn_recalibration``, ``examples`` and the keys of
    :data:`asc.training.recipes.DEFAULTS` are keyed only when not at their default (the order and recipe asc always used),
    so existing keys stay."""
    sampling = stage_cfg.get("sampling") or UNIFORM
    return (
        {k: stage_cfg[k] for k in RECIPE_KEYS}
        | ({"sampling": sampling} if sampling != UNIFORM else {})
        | keyed(stage_cfg)
        | bn_stats.keyed(stage_cfg)
        | patch_examples.keyed(stage_cfg)
    )


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    (features,), (index,) = up["features"], up["index"]
    t = cfg["train"]
    if t.get("init_from"):
        from asc.data.fingerprint import file_digest  # a model is identified by its bytes, not its path

        source = Path(t["init_from"])
        config = {"model": cfg["model"], "init_from_sha256": file_digest(source)}
        label = f"baseline from {source.name}"
        return [
            make_step(
                "train", label, config, (features, index), init_from=str(source), seed=int(t["seeds"][0])
            )
        ]
    split = t.get("split")  # an official split (DCASE 2025 trains on split25); keyed only when given
    on = {"split": split} if split else {}
    return [
        make_step(
            "train",
            f"baseline seed {seed}" + (f" on {split}" if split else ""),
            {"model": cfg["model"], "train": {**recipe(t), **on}, "seed": int(seed)},
            (features, index),
            seed=int(seed),
            **on,
        )
        for seed in t["seeds"]
    ]


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    from asc.nets import family_of

    fam = family_of(cfg["model"])
    bn_stats.check("train", cfg["train"], fused=fam.fusable, trainer=f"model={fam.name}")
    if not cfg["train"].get("init_from"):
        patch_examples.check("train", cfg["train"], fam)
    if not fam.exact_surgery:
        return check_zoo(steps, cfg, fam)
    spec = baseline_spec(cfg)
    t, source = cfg["train"], cfg["train"].get("init_from")
    if not source and t.get("select", "best") == "best" and int(t["select_after"]) >= int(t["epochs"]):
        log.warning(
            "train.select_after=%s >= train.epochs=%s: no epoch competes for the best on the selection split, "
            "the last one is kept",
            t["select_after"],
            t["epochs"],
        )
    check_model(spec, cfg, what=f"train.init_from={source}" if source else f"model={cfg['model']['name']}")
    if t.get("split") and not source:
        split_files.check_files(cfg, [t["split"]], key="train.split")
    return [(step, model_need(cfg, spec, "baselines", trains=not source, stage="train")) for step in steps]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.training.evaluate import evaluate

    t = ctx.cfg["train"]
    splits = ctx.splits(steps[0])

    from asc.nets.cost import count

    def build(batch: list[tuple[Step, Path]]) -> None:
        if t.get("init_from"):
            trained, examples = _from_files(batch, ctx.cfg["model"]), len(splits.train.y)
        else:
            trained, examples = _train(batch, ctx, splits)
        models = [model for model, _ in trained]
        scores = evaluate(
            models,
            splits.evaluate,
            batch_size=ctx.speed.eval_batch_size,
            device=ctx.device,
            task=ctx.task,
            precision=t.get("eval_precision", "fp32") if not t.get("init_from") else "fp32",
            trained=not t.get("init_from"),
        )
        for (step, work), (model, history), score in zip(batch, trained, scores, strict=True):
            ctx.publish(
                step,
                work,
                model,
                score,
                full=count(model, ctx.cfg),
                extra=history,
                criterion="none",
                layers="",
                seed=step.args["seed"],
                baseline_seed=step.args["seed"],
                train_time_s=history["train_seconds"],
                epochs=history["epochs"],
                select_on=selected_on(t) if not t.get("init_from") else "",
                split=step.args.get("split", ""),
                train_examples=examples,
            )

    ctx.build_batch(steps, build)
    ctx.record(steps)


def _from_files(batch: list[tuple[Step, Path]], spec: Mapping[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """A given model file is the baseline: nothing is trained (a zoo network's file: asc/nets/checkpoint.py)."""
    from asc.nets import family_of
    from asc.nets.model_file import read_model_file

    def read(path: str) -> Any:
        if family_of(spec).exact_surgery:
            return read_model_file(path)[0]
        from asc.nets.checkpoint import read_pretrained

        return read_pretrained(path, spec)

    history = {"best_epoch": 0, "train_seconds": 0.0, "epochs": 0}
    return [(read(s.args["init_from"]), {**history, "init_from": s.args["init_from"]}) for s, _ in batch]


def _train(
    batch: list[tuple[Step, Path]], ctx: Context, splits: Any
) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
    """One baseline per (step, work folder) in one train_many call: on all of the train split (fold1_train
    minus the hold-out), or on the clips of the official split ``train.split`` lists, drawn from all of
    fold1_train as DCASE 2024/2025 define them (every step of a job has the same split). Returns the (model,
    history) pairs and the number of training examples."""
    import numpy as np
    import torch

    from asc.nets import build, family_of
    from asc.nets.model import build_model
    from asc.pipeline.stages.dataset import root_of
    from asc.training.train import Run

    t = ctx.cfg["train"]
    spec = {k: v for k, v in ctx.cfg["model"].items() if k != "name"}
    if t.get("split"):
        pool = splits.pool("fold1_train")
        root = root_of(batch[0][0].up("index").up("dataset"), ctx)
        found = split_files.positions(
            t["split"], pool.rows, ctx.cfg["dataset"], root, strict=True, key="train.split"
        )
        chosen_rows = torch.as_tensor(np.asarray(found), dtype=torch.long)
    else:
        pool = splits.train
        chosen_rows = torch.arange(len(pool.y))
    fam = family_of(ctx.cfg["model"])
    runs = []
    for step, work in batch:
        torch.manual_seed(step.args["seed"])  # the initial weights too: a rerun in a new process is identical
        model = build_model(spec) if fam.exact_surgery else build(ctx.cfg["model"])
        runs.append(Run(model, chosen_rows.clone(), step.args["seed"], work, recipe_of(t), step.label))
    histories = train_runs(runs, pool, splits.selection(t["select_on"]), ctx=ctx, stage_cfg=t)
    return [(run.model, history) for run, history in zip(runs, histories, strict=True)], histories[0][
        "train_examples"
    ]


def plain_options(ctx: Context, stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The trainer's options for a train, finetune or perdevice config, or a schedule step's short fine-tuning
    (``stage_cfg``): the job's speed, the recipe's precision and the task (``ctx.train_options``), and
    ``bn_recalibration`` where on (:func:`recalibration_option`). The one place they are built: every stage
    that trains calls :func:`train_runs`, which calls this."""
    from asc.nets import family_of

    fam = family_of(ctx.cfg["model"])
    return ctx.train_options(stage_cfg["precision"]) | recalibration_option(stage_cfg, fam)


def train_runs(
    runs: Sequence[Any],
    pool: Any,
    select: Any,
    *,
    ctx: Context,
    stage_cfg: Mapping[str, Any],
    one_by_one: bool = False,
) -> list:
    """Train ``runs`` (:class:`asc.training.train.Run`, ``train_idx``: clip positions into ``pool``) on ``pool`` (x (N, mel,
    frames), y), selecting on ``select`` (clips), as ``stage_cfg`` says: fused (asc/training/train.py) where the family
    is fusable and not ``one_by_one`` (QAT's fake-quantised networks), else one by one (asc/training/train_plain.py), with
    :func:`plain_options`; on patches of the clips where ``examples=patches`` (asc/training/patch_examples.py: each run's
    positions and teacher logits become its clips' patches for the training, and are given back after it).
    Returns the trainer's histories, one per run, each with ``train_examples``: the examples that run trained on
    (patches where ``examples=patches``, else clips; a results row's ``train_examples`` column)."""
    from asc.nets import family_of
    from asc.training.train import train_many
    from asc.training.train_plain import train_each

    fam = family_of(ctx.cfg["model"])
    trainer = train_many if fam.fusable and not one_by_one else train_each
    options = plain_options(ctx, stage_cfg)
    if patch_examples.examples(stage_cfg) != patch_examples.PATCHES:
        return _counted(trainer(runs, (pool.x, pool.y), (select.x, select.y), **options), runs)
    geometry = patch_examples.geometry(ctx.cfg["model"], fam)
    train, swapped = patch_examples.training_data(pool.x, pool.y, runs, geometry)
    saved = [(run.train_idx, run.teacher) for run in runs]
    try:
        for run, (positions, teacher) in zip(runs, swapped, strict=True):
            run.train_idx, run.teacher = positions, teacher
        log.info("training on %d-frame patches every %d frames (examples=patches)", *geometry)
        return _counted(
            trainer(runs, train, (select.x, select.y), **options), runs
        )  # before the clips return
    finally:
        for run, (positions, teacher) in zip(runs, saved, strict=True):
            run.train_idx, run.teacher = positions, teacher


def _counted(histories: Sequence[dict], runs: Sequence[Any]) -> list[dict]:
    """Each history with ``train_examples``: the length of its run's ``train_idx`` as trained (patch positions on
    patches)."""
    return [{**h, "train_examples": len(run.train_idx)} for h, run in zip(histories, runs, strict=True)]


def recalibration_option(stage_cfg: Mapping[str, Any], fam: Any) -> dict[str, int]:
    """The trainer option of ``bn_recalibration`` (asc/training/bn_stats.py) where it is on (only the one-by-one trainer
    takes it; planning refuses it for a fusable family)."""
    n = bn_stats.batches(stage_cfg)
    return {"bn_recalibration": n} if n and not fam.fusable else {}


def recipe_of(stage_cfg: Mapping[str, Any]) -> Any:
    """The :class:`asc.training.train.Recipe` of a train or finetune config."""
    from asc.training.train import Recipe

    new = {k: stage_cfg.get(k, v) for k, v in DEFAULTS.items() if k != "eval_precision"}
    return Recipe(
        epochs=int(stage_cfg["epochs"]),
        batch_size=int(stage_cfg["batch_size"]),
        lr=float(stage_cfg["lr"]),
        adam_eps=float(stage_cfg["adam_eps"]),
        select_after=int(stage_cfg["select_after"]),
        sampling=str(stage_cfg.get("sampling") or UNIFORM),
        optimizer=str(new["optimizer"]),
        weight_decay=float(new["weight_decay"]),
        schedule=str(new["schedule"]),
        warmup_steps=int(new["warmup_steps"]),
        select=str(new["select"]),
    )
