"""Stage ``perdevice``: one copy of a fine-tuned (general) network per known recording device, fine-tuned on
that device's clips of the same subset, all copies in one fused pass; evaluated with device routing (a clip of a
known device goes to its device's model, any other to the general model), as DCASE 2025 Task 1 allows.

A `runs` block with ``per_device: true`` asks for it on each of its fine-tuned networks (asc/training/per_device.py has
the subsets, the runs and the routing). Key: the general network's key, the devices and the ``perdevice`` recipe
(conf/perdevice/: ``ours`` is the fine-tuning recipe, ``dcase2025`` the 2025 baseline's), keeping the last epoch as
the 2025 baseline does: its device models are not selected.
The artifact holds the general model (``model.pt``) and one ``device_<d>.pt`` per device; its results row is the
routed evaluation (stage ``per_device``: overall and per-device accuracy). Any network of the zoo: the DCASE21/22
family's device models train fused, any other family's one by one (asc/training/train_plain.py), each saved with its
network's pruning history (asc/nets/checkpoint.py). The routing needs each clip's recording device and one scene
per clip: a tagging dataset (multi-label, no devices) is refused at planning.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.pipeline.stages.baseline import baseline_spec, model_need, pruned_spec
from asc.pipeline.stages.finetune import step_for, subset_of
from asc.pipeline.stages.prune import final_step, prune_runs
from asc.pipeline.stages.prune_schedule import row_fields
from asc.pipeline.stages.train import recipe
from asc.pipeline.step import Step, make_step
from asc.training import bn_stats, patch_examples

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)

KNOWN_DEVICES = (
    "a",
    "b",
    "c",
    "s1",
    "s2",
    "s3",
)  # TAU's training devices (asc.training.per_device.KNOWN_DEVICES)


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    from asc.core.errors import ConfigError
    from asc.data.tasks import task_of

    (features,), (idx,) = up["features"], up["index"]
    tuned = {s.id: s for s in up["finetune"]}
    if not tuned:
        return []
    if task_of(cfg["dataset"]).multi_label and any(b.per_device for b in prune_runs(cfg)):
        raise ConfigError(
            f"runs.per_device=true on dataset={cfg['dataset']['name']}, a tagging (multi-label) set: device routing "
            "needs one scene and a recording device per clip; drop per_device"
        )
    baseline = up["finetune"][0].up("prune").origin("train")
    # The perdevice recipe (conf/perdevice/: ours follows finetune, so its key is what it was when the device
    # models took the fine-tuning recipe); ``select`` is not its key: device models always keep the last epoch.
    config = {**recipe(cfg["perdevice"]), "keep": "last epoch", "devices": list(KNOWN_DEVICES)}
    steps = []
    for block in prune_runs(cfg):
        if not block.per_device:
            continue
        source = final_step(cfg, block, baseline, (features, idx))
        for subset in [*block.fractions, *block.splits]:
            for repeat in range(block.repeats):
                general = tuned[step_for(cfg, source, subset, repeat, (features, idx)).id]
                label = f"{general.label} per device"
                steps.append(make_step("perdevice", label, config, (general, features, idx), **general.args))
    return steps


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    from asc.nets import family_of

    bn_stats.check(
        "perdevice", cfg["perdevice"], fused=True, trainer="perdevice (asc/training/train.py train_many)"
    )
    patch_examples.check("perdevice", cfg["perdevice"], family_of(cfg["model"]))
    spec = baseline_spec(cfg)

    def need(step: Step) -> Need:  # one model per device, each of its general model's pruned network's size
        one = model_need(
            cfg,
            pruned_spec(spec, step.upstream[0].upstream[0].config),
            "per-device models",
            stage="perdevice",
        )
        return dataclasses.replace(one, bytes=one.bytes * len(KNOWN_DEVICES))

    return [(step, need(step)) for step in steps]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.nets.checkpoint import load  # either checkpoint format: the DCASE family's or a zoo network's

    splits = ctx.splits(steps[0])
    general = {s.up("finetune").id: load(ctx.path(s.up("finetune")) / "model.pt") for s in steps}
    for step in steps:
        ctx.build_batch([step], lambda batch: _per_device(batch, ctx, general, splits))
    ctx.record(steps)


def _per_device(batch: list[tuple[Step, Path]], ctx: Context, general: dict[str, Any], splits: Any) -> None:
    f, p = ctx.cfg["finetune"], ctx.cfg["perdevice"]
    pool, select, evaluate = splits.pool(f["train_on"]), splits.selection(p["select_on"]), splits.evaluate
    for step, work in batch:
        tuned = step.up("finetune")
        model, extra = general[tuned.id]
        history = extra.get("history", [])  # a zoo network's pruning history (the DCASE family: none)
        _, devices, histories = _device_models(step, work, model, pool, select, ctx)
        scores = _routed_scores(model, devices, evaluate, ctx)
        for d, device_model in devices.items():
            _save(
                device_model.cpu(), work / f"device_{d}.pt", ctx.cfg["model"], history, d, f"{step.label} {d}"
            )
        seconds = sum(h["train_seconds"] for h in histories)
        _publish(
            step,
            work,
            model,
            scores,
            ctx,
            history=history,
            histories=dict(zip(devices, histories, strict=True)),
            seconds=seconds,
        )
        log.info(
            "per-device models of %s: routed accuracy %.4f in %.1f s",
            tuned.label,
            scores["accuracy"],
            seconds,
        )


def _device_models(
    step: Step, work: Path, model: Any, pool: Any, select: Any, ctx: Context
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """One model per known device, each fine-tuned from the general ``model`` on its device's clips of the
    fine-tuned step's subset: ({device: pool positions}, {device: model}, the runs' histories)."""
    import numpy as np

    from asc.pipeline.stages.train import recipe_of, train_runs
    from asc.training.per_device import device_runs, device_subsets, last_epoch

    p = ctx.cfg["perdevice"]
    subset = np.asarray(subset_of(step.up("finetune"), pool.rows, ctx))
    per_device = device_subsets(pool.rows.iloc[subset].reset_index(drop=True), KNOWN_DEVICES)
    positions = {d: subset[p] for d, p in per_device.items()}  # back into the pool's positions
    runs = device_runs(
        model, positions, recipe=last_epoch(recipe_of(p)), seed=step.args["seed"], workdir=work
    )
    histories = train_runs(runs, pool, select, ctx=ctx, stage_cfg=p)
    devices = {d: run.model for d, run in zip(positions, runs, strict=True)}
    return positions, devices, histories


def _routed_scores(model: Any, devices: dict[str, Any], evaluate: Any, ctx: Context) -> dict[str, Any]:
    """The routed metrics on the evaluation split: each clip scored by its device's model, unseen devices by
    the general ``model`` (asc.training.per_device.routed_metrics)."""
    from asc.data.tau import SCENES
    from asc.training.per_device import routed_metrics

    return routed_metrics(
        model,
        devices,
        evaluate.x,
        evaluate.y.numpy(),
        evaluate.rows["device"].tolist(),
        SCENES,
        batch_size=ctx.speed.eval_batch_size,
        device=ctx.device,
        precision=ctx.cfg["perdevice"].get("eval_precision", "fp32"),
    )


def _publish(
    step: Step,
    work: Path,
    model: Any,
    scores: dict[str, Any],
    ctx: Context,
    *,
    history: Sequence,
    histories: dict[str, Any],
    seconds: float,
) -> None:
    """Publish the general model with its routed scores and the results row (its pruned network's facts, the
    device runs' histories, time and examples)."""
    import json

    from asc.nets.checkpoint import load
    from asc.nets.cost import count
    from asc.pipeline.stages.prune import facts

    p = ctx.cfg["perdevice"]
    prune_step_ = step.up("finetune").up("prune")
    baseline_step = prune_step_.origin("train")
    baseline, _ = load(ctx.path(baseline_step) / "model.pt")
    info = json.loads((ctx.path(prune_step_) / "info.json").read_text())
    ctx.publish(
        step,
        work,
        model,
        scores,
        full=count(baseline, ctx.cfg),
        **({} if hasattr(model, "spec") else {"history": history}),
        extra={"devices": histories},
        **facts(info, baseline),
        fraction=step.args["fraction"],
        split=step.args.get("split", ""),
        repeat=step.args["repeat"],
        seed=step.args["seed"],
        baseline_seed=int(baseline_step.args["seed"]),
        train_time_s=seconds,
        epochs=int(p["epochs"]),
        select_on="last epoch",
        train_examples=int(sum(h["train_examples"] for h in histories.values())),  # patches too
        **row_fields(step),  # the pruning schedule's steps (asc/pipeline/stages/prune_schedule.py)
    )


def _save(
    model: Any, path: Path, spec: Mapping[str, Any], history: Sequence, device: str, label: str
) -> None:
    """One device model: the DCASE family's checkpoint, or a zoo network's with its pruning history."""
    if hasattr(model, "spec"):
        from asc.nets.model import save_model

        save_model(model, path, device=device, label=label)
    else:
        from asc.nets.checkpoint import save

        save(model, path, spec, history, device=device, label=label)
