"""Stage ``finetune``: pruned networks fine-tuned on nested, stratified fractions of the training data, every
run of one architecture in one fused pass.

The paper fine-tunes for 30 epochs with the baseline's optimiser on 10–100 % of the training data, 5 times, and
plots the wall time (Fig. 6). Each run draws its subset from the training pool with its subset seed (the same for
every repeat under protocol=authors) and trains with its own seed.

Key: the recipe, the pool, the fraction, the repeat and the seeds they imply, with the pruned network's key.
Checked before anything is built, wherever the index can be known then (asc/pipeline/stages/index.py ``preview``): that
every fraction leaves each scene × device stratum at least one clip.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.data import split_files
from asc.data.fractions import check_fractions, pool_of, runs_setting  # noqa: F401 - pool_of is asc.pipeline.dryrun's (and scripts') too
from asc.data.tasks import task_of
from asc.pipeline.stages import dataset, index, teacher
from asc.pipeline.stages.baseline import baseline_spec, model_need, pruned_spec
from asc.pipeline.stages.prune import final_step, prune_runs
from asc.pipeline.stages.prune_schedule import row_fields
from asc.pipeline.stages.train import recipe, train_runs
from asc.pipeline.step import Step, make_step
from asc.training import bn_stats, patch_examples, qat
from asc.training.recipes import selected_on

if TYPE_CHECKING:
    import pandas as pd

    from asc.pipeline.context import Context

log = logging.getLogger(__name__)


def seeds(finetune: Mapping[str, Any], repeat: int) -> tuple[int, int]:
    """(training seed, subset seed) of repeat ``repeat``: the authors drew one subset for every repeat."""
    seed = int(finetune["seed"]) + repeat
    return seed, int(finetune["seed"]) if finetune["subset"] == "shared" else seed


def step_for(
    cfg: Mapping[str, Any], source: Step, subset: float | str, repeat: int, data: tuple[Step, Step]
) -> Step:
    """Fine-tuning the pruned network ``source`` on ``subset`` (a fraction of ours, or an official split's
    name), repeat ``repeat``; ``data``: the features and index steps."""
    f = cfg["finetune"]
    seed, subset_seed = seeds(f, repeat)
    base = {**recipe(f), "train_on": f["train_on"]}
    if isinstance(subset, str):  # an official split is a fixed list of recordings: no subset draw to seed
        keyed = {**base, "split": subset, "repeat": repeat, "seed": seed}
        args = {"split": subset, "fraction": split_files.fraction_of(subset)}
        name = subset
    else:
        keyed = {**base, "fraction": subset, "repeat": repeat, "seed": seed, "subset_seed": subset_seed}
        args = {"fraction": subset, "subset_seed": subset_seed}
        name = f"{subset:g}"
    label = f"{source.label} {name} #{repeat}"
    taught = teacher.teacher_step(
        cfg, source.origin("train"), data
    )  # knowledge distillation: keyed only when on
    ups = (source, *data) if taught is None else (source, *data, taught)
    keyed |= teacher.distill_config(cfg) | qat.keyed(f)  # each keyed only when on
    return make_step("finetune", label, keyed, ups, repeat=repeat, seed=seed, **args)


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    (features,), (idx,) = up["features"], up["index"]
    pruned = {s.id: s for s in up["prune"]}
    if not pruned:
        return []
    baseline = up["prune"][0].origin("train")  # every pruned network of a job starts from one baseline
    steps = []
    for block in prune_runs(cfg):
        source = pruned[final_step(cfg, block, baseline, (features, idx)).id]  # a schedule's last step
        own = teacher.block_config(cfg, block.teacher)  # a KD block: its own teacher, keyed (distill_config)
        for subset in [*block.fractions, *block.splits]:
            steps += [step_for(own, source, subset, r, (features, idx)) for r in range(block.repeats)]
    return steps


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    from asc.nets import family_of

    fam = family_of(cfg["model"])
    qat.check(
        cfg
    )  # as validation does (which a set of asc.data.layouts leaves to the stages): asc/training/qat.py
    bn_stats.check("finetune", cfg["finetune"], fused=fam.fusable, trainer=f"model={fam.name}")
    patch_examples.check("finetune", cfg["finetune"], fam)
    drawn = sorted({s.args["fraction"] for s in steps if "subset_seed" in s.args})
    if drawn:
        table = index.preview(cfg)
        if table is not None:
            check_fractions(
                pool_of(table, cfg["finetune"]["train_on"]),
                drawn,
                task_of(cfg["dataset"]).strata,
                setting=lambda f: runs_setting(cfg.get("runs"), f),
            )
    names = sorted({s.args["split"] for s in steps if "split" in s.args})
    split_files.check_files(cfg, names, key="runs ... splits")
    spec = baseline_spec(cfg)  # each step's network at its pruned widths where its criterion config says them
    return [
        (step, model_need(cfg, pruned_spec(spec, step.upstream[0].config), "fine-tuned models"))
        for step in steps
    ]


def subset_of(step: Step, pool: pd.DataFrame, ctx: Context) -> Any:
    """Positions into ``pool`` (the fine-tuning pool's rows) of the step's subset: our nested stratified draw
    of its fraction, or the recordings its official split lists."""
    if "split" in step.args:
        root = dataset.root_of(step.up("index").up("dataset"), ctx)
        strict = ctx.cfg["finetune"]["train_on"] == "fold1_train"  # DCASE 2024/2025 train on the whole split
        return split_files.positions(
            step.args["split"], pool, ctx.cfg["dataset"], root, strict=strict, key="runs ... splits"
        )
    from asc.data.fractions import nested_fractions

    fraction = step.args["fraction"]
    return nested_fractions(pool, [fraction], seed=step.args["subset_seed"], strata=ctx.task.strata)[fraction]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.nets.checkpoint import load  # either checkpoint format: the DCASE family's or a zoo network's

    splits = ctx.splits(steps[0])
    drawn = sorted({s.args["fraction"] for s in steps if "subset_seed" in s.args})  # not the official splits
    check_fractions(
        splits.pool(ctx.cfg["finetune"]["train_on"]).rows,
        drawn,
        ctx.task.strata,
        setting=lambda f: runs_setting(ctx.cfg.get("runs"), f),
    )  # the index is built: exactly
    models = {}  # step id -> model: each pruned network and each baseline, read once
    pruning: dict[str, list] = {}  # step id -> its checkpoint's pruning history (empty: the DCASE family)
    for s in steps:
        for source in (s.up("prune"), s.up("prune").origin("train")):
            if source.id not in models:
                models[source.id], extra = load(ctx.path(source) / "model.pt")
                pruning[source.id] = extra.get("history", [])  # a zoo network's pruning history
    groups: dict[tuple[Any, ...], list[Step]] = {}
    for s in steps:  # one fused pass per architecture (the DCASE family); any other network one by one
        pruned = models[s.up("prune").id]
        shape = tuple(pruned.spec["widths"]) if hasattr(pruned, "spec") else (s.id,)
        groups.setdefault(shape, []).append(s)
    for shape, group in groups.items():
        log.info("fine-tuning %d network(s) of shape %s in one pass", len(group), list(shape))
        ctx.build_batch(group, lambda batch: _finetune(batch, ctx, models, pruning, splits))
    ctx.record(steps)


def _finetune(
    batch: list[tuple[Step, Path]],
    ctx: Context,
    models: dict[str, Any],
    pruning: dict[str, list],
    splits: Any,
) -> None:
    from asc.training.evaluate import evaluate

    f = ctx.cfg["finetune"]
    pool, select = splits.pool(f["train_on"]), splits.selection(f["select_on"])
    runs = [_run(step, work, models[step.up("prune").id], pool, ctx, f) for step, work in batch]
    quantised = "qat" in batch[0][0].config  # QAT: one by one, scored as the int8 network on the CPU
    histories = train_runs(runs, pool, select, ctx=ctx, stage_cfg=f, one_by_one=quantised)
    scores = evaluate(
        [qat.convert(r.model) if quantised else r.model for r in runs],
        splits.evaluate,
        batch_size=ctx.speed.eval_batch_size,
        device="cpu" if quantised else ctx.device,
        task=ctx.task,
        precision="fp32" if quantised else f.get("eval_precision", "fp32"),
        trained=True,
    )
    for run in runs if quantised else []:
        run.model = qat.float_model(run.model)  # stored: the float weights QAT trained
    for (step, work), run, history, score in zip(batch, runs, histories, scores, strict=True):
        _publish(step, work, run, history, score, ctx, models, pruning, quantised=quantised)


def _run(step: Step, work: Path, pruned: Any, pool: Any, ctx: Context, f: Mapping[str, Any]) -> Any:
    """The fine-tuning run of ``step``: a fresh copy of the pruned network (fake-quantised for QAT), its subset
    of the pool (its lists saved in ``work``), seed, recipe and teacher (None: hard labels only)."""
    import copy

    import numpy as np
    import torch

    from asc.data.fractions import save_lists
    from asc.nets.model import build_model
    from asc.pipeline.stages.train import recipe_of
    from asc.training.train import Run

    subset = subset_of(step, pool.rows, ctx)
    save_lists(pool.rows, {step.args["fraction"]: subset}, work)
    if hasattr(pruned, "spec"):  # the DCASE family: a fresh build, as always (the same RNG draws)
        start = build_model(pruned.spec)
        start.load_state_dict(pruned.state_dict())
    else:
        start = copy.deepcopy(pruned)  # a fresh copy: every run starts from the pruned weights
    start = qat.prepare(start) if "qat" in step.config else start  # fake-quantised (asc/training/qat.py)
    positions = torch.as_tensor(np.asarray(subset), dtype=torch.long)
    taught = teacher.run_teacher(step, pool.rows, ctx)  # None: hard labels only
    return Run(start, positions, step.args["seed"], work, recipe_of(f), step.label, teacher=taught)


def _publish(
    step: Step,
    work: Path,
    run: Any,
    history: dict[str, Any],
    score: dict[str, Any],
    ctx: Context,
    models: dict[str, Any],
    pruning: dict[str, list],
    *,
    quantised: bool,
) -> None:
    """Publish one fine-tuned model and its results row (its pruned network's facts, the run's subset, seeds,
    time and selection, teacher and QAT fields)."""
    import json

    from asc.nets.cost import count
    from asc.pipeline.stages.prune import facts

    f = ctx.cfg["finetune"]
    prune_step = step.up("prune")
    baseline_step = prune_step.origin("train")
    baseline = models[baseline_step.id]
    info = json.loads((ctx.path(prune_step) / "info.json").read_text())
    examples = history["train_examples"]  # patches where examples=patches (train_runs)
    ctx.publish(
        step,
        work,
        run.model,
        score,
        full=count(baseline, ctx.cfg),
        **({} if hasattr(run.model, "spec") else {"history": pruning[prune_step.id]}),
        extra=history,
        **facts(info, baseline),
        fraction=step.args["fraction"],
        split=step.args.get("split", ""),
        repeat=step.args["repeat"],
        seed=step.args["seed"],
        baseline_seed=int(baseline_step.args["seed"]),
        train_time_s=history["train_seconds"],
        epochs=history["epochs"],
        select_on=selected_on(f),
        train_examples=examples,
        **teacher.row_fields(step),
        **row_fields(step),
        **({"qat": True, "qat_backend": qat.engine()} if quantised else {}),
    )
    log.info(
        "fine-tuned %s on %d examples: %s %.4f in %.1f s",
        step.label,
        examples,
        ctx.task.metric,
        score[ctx.task.metric],
        history["train_seconds"],
    )
