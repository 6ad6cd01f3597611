"""Iterative pruning in the ``prune`` stage: the k steps of a criterion config's ``schedule`` (the spacing, the
short fine-tuning and its data: asc/prune/schedule.py), each an artifact of its own.

Step s of k is keyed by the criterion config, its place (``schedule``: steps, step, spacing) and, from step 2 on,
its short fine-tuning (the fine-tuning recipe with ``step_epochs``, the pool and share it trains on, the seed),
with the previous step's key (step 1: the baseline's) and the features and index it trains on. Step s ≥ 2 loads
the previous step's pruned network, fine-tunes it for ``step_epochs`` and prunes it again with the criterion at
the step's kept counts (geometric spacing), or, for a criterion that decides its own count (Algorithm 1: cosine,
chebyshev, average, nystrom; spacing ``criterion``), by its own rule on the fine-tuned network's filters; its model is the pruned network before any further training (its row: the accuracy just
after the cut). A killed job reuses the finished steps; one killed during a step's short fine-tuning resumes it
after its last finished epoch (``step_finetune/last.pt`` in the step's work folder, which the store hands to the
next holder; both trainers resume). Rows carry ``prune_steps`` (k) and ``prune_step`` (s).

Both surgeries: the DCASE family's exact hand surgery (per-layer ratios C1…C3) and dependency-graph surgery
(per coupled group; the checkpoint's pruning history is the previous steps' history followed by this step's
cuts, so asc/nets/checkpoint.py replays every step). ``kept`` / ``kept_indices`` hold the baseline's filter
indices (composed over the steps); ``l1_norms`` / ``closest_distance`` stay the unpruned baseline's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.pipeline.stages.train import recipe
from asc.pipeline.step import Step, make_step
from asc.prune import schedule
from asc.report.rows import prune_place

if TYPE_CHECKING:
    from asc.pipeline.context import Context


def plan_chain(
    cfg: Mapping[str, Any], pcfg: Mapping[str, Any], label: str, baseline: Step, data: tuple[Step, Step]
) -> list[Step]:
    """The k steps of ``pcfg``'s schedule, in order (see the module docstring for their keys)."""
    from asc.pipeline.config_effects import without_ignored

    k = schedule.steps_of(pcfg)
    base = without_ignored(schedule.without_schedule(pcfg))
    f = cfg["finetune"]
    tune = {
        **recipe(dict(f, epochs=schedule.step_epochs(pcfg, f))),
        "train_on": f["train_on"],
        "fraction": float(pcfg.get("step_fraction", 1.0)),
        "seed": int(f["seed"]),
    }
    spacing = schedule.spacing_of(pcfg)
    steps = [
        make_step("prune", f"{label} step 1/{k}", {**base, "schedule": _place(1, k, spacing)}, (baseline,))
    ]
    for s in range(2, k + 1):
        place = {**_place(s, k, spacing), "finetune": tune}
        steps.append(
            make_step("prune", f"{label} step {s}/{k}", {**base, "schedule": place}, (steps[-1], *data))
        )
    return steps


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> None:
    """Before anything is built: the short fine-tunes' ``finetune.bn_recalibration`` and ``finetune.examples``
    for the network (ConfigError, one line); and, where the index can be known (asc/pipeline/stages/index.py
    ``preview``), that each schedule's ``step_fraction`` leaves every scene × device stratum of its pool at least
    one clip (InputError)."""
    from asc.core.errors import InputError
    from asc.data.fractions import check_fractions, pool_of
    from asc.nets import family_of
    from asc.pipeline.stages import index
    from asc.training import bn_stats, patch_examples

    tuned = [s for s in steps if "finetune" in (s.config.get("schedule") or {})]
    if tuned:
        fam = family_of(cfg["model"])
        bn_stats.check("finetune", cfg["finetune"], fused=fam.fusable, trainer=f"model={fam.name}")
        patch_examples.check("finetune", cfg["finetune"], fam)
    drawn = {
        (s.config["schedule"]["finetune"]["train_on"], s.config["schedule"]["finetune"]["fraction"])
        for s in tuned
    }
    drawn = {d for d in drawn if d[1] < 1.0}
    table = index.preview(cfg) if drawn else None
    if table is None:
        return
    for train_on, share in sorted(drawn):
        try:
            check_fractions(pool_of(table, train_on), [share], setting=lambda f: "prune.step_fraction")
        except InputError as err:
            raise InputError(f"prune.step_fraction={share:g}: {err}") from None


def _place(step: int, steps: int, spacing: str) -> dict[str, Any]:
    """A step's place in its chain; ``spacing`` (asc.prune.schedule.spacing_of) is keyed: another spacing is
    another model."""
    return {"steps": steps, "step": step, "spacing": spacing}


def row_fields(step: Step) -> dict[str, int]:
    """``prune_steps`` (k; 1: one-shot) and ``prune_step`` (s) of the pruning ``step`` or a step built from it."""
    steps, at = prune_place(step)
    return {"prune_steps": steps, "prune_step": at}


def training_of(info: Mapping[str, Any]) -> dict[str, Any]:
    """The row's ``train_time_s`` and ``epochs``: those of the short fine-tuning before a schedule step's cut
    (0 for one-shot pruning and a schedule's first step)."""
    tuned = (info.get("schedule") or {}).get("step_finetune") or {}
    return {"train_time_s": float(tuned.get("train_seconds", 0.0)), "epochs": int(tuned.get("epochs", 0))}


def build_step(step: Step, work: Path, ctx: Context, family: Any, inputs: Any) -> tuple[Any, Any, dict, dict]:
    """Build one schedule step (module docstring); returns (baseline, pruned model, info, what the row's
    ``publish`` takes besides: ``full`` and, on a dependency-graph network, ``history``)."""
    from asc.nets.checkpoint import load
    from asc.nets.complexity import complexity

    place = step.config["schedule"]
    pcfg = {key: v for key, v in step.config.items() if key != "schedule"}
    baseline, _ = load(ctx.path(step.origin("train")) / "model.pt")
    current, before, tuned = baseline, None, None
    if int(place["step"]) > 1:
        previous = step.up("prune")
        current, _ = load(ctx.path(previous) / "model.pt")
        before = json.loads((ctx.path(previous) / "info.json").read_text())
        current, tuned = short_finetune(step, current, ctx, work)
    model, info = cut(current, pcfg, int(place["step"]), int(place["steps"]), family, inputs, before)
    info["schedule"]["step_finetune"] = tuned
    if family is None:
        return baseline, model, info, {"full": complexity(baseline)}
    from asc.nets.cost import count

    return baseline, model, info, {"full": count(baseline, ctx.cfg), "history": info["history"]}


def cut(
    current: Any,
    pcfg: Mapping[str, Any],
    step: int,
    steps: int,
    family: Any,
    inputs: Any,
    before: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Prune ``current`` (the baseline at step 1, else the previous step's network after its short fine-tuning)
    with the criterion config ``pcfg``: a ratio criterion to step ``step`` of ``steps``'s geometric kept counts, a
    criterion that decides its own count by its own rule on ``current`` (asc/prune/schedule.py). ``family``: None
    for the DCASE family (exact surgery), else the network's family (dependency-graph surgery traced on
    ``inputs``); ``before``: the previous step's info (None at step 1). Returns (pruned model, info): the
    criterion's info with ``kept`` composed to the baseline's indices, ``history`` (graph surgery) every step's
    cuts so far, and ``schedule``: units, original (the baseline's filters per unit), target (the one-shot kept
    counts; None where the criterion decides its own), kept_counts (after this step), step, steps."""
    if schedule.decides_own_count(pcfg):  # this step's count: the criterion's own, on the filters still there
        model, info = _prune(current, pcfg, family, inputs)
        now = _targets(info, family)
        plan = {**now, "original": (before["schedule"] if before else now)["original"], "target": None}
        keep = now["target"]
    else:
        model, info, plan, keep = _geometric_cut(current, pcfg, step, steps, family, inputs, before)
    if before is not None:
        info["kept"] = schedule.compose(before["kept"], info["kept"])
        for key in ("l1_norms", "closest_distance"):  # the unpruned baseline's, as the one-shot row has
            if key in before:
                info[key] = before[key]
    if "history" in info:
        earlier = list((before or {}).get("history", []))
        info["history"] = earlier + [list(h) for h in info["history"]]
    fields = ("units", "original", "target")
    info["schedule"] = {**{f: plan[f] for f in fields}, "steps": steps, "step": step, "kept_counts": keep}
    return model, info


def _geometric_cut(
    current: Any,
    pcfg: Mapping[str, Any],
    step: int,
    steps: int,
    family: Any,
    inputs: Any,
    before: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any], Mapping[str, Any], dict[str, int]]:
    """A ratio criterion's cut of :func:`cut`: (pruned model, the criterion's info, the plan — units, original
    and target counts —, this step's kept counts). Step 1 prunes the unpruned baseline in one shot for the
    targets, then cuts at the step's counts."""
    if before is None:
        _, shot = _prune(current, pcfg, family, inputs)  # the one-shot target on the unpruned baseline
        plan, now = _targets(shot, family), None
    else:
        plan = before["schedule"]
        now = plan["kept_counts"]
    now = now or plan["original"]
    units = plan["units"]
    keep = {
        u: schedule.kept_count(plan["original"][u], plan["target"][u], step, steps, now[u]) for u in units
    }
    ratios = {n: schedule.step_ratio(now[u], keep[u]) for u, names in units.items() for n in names}
    model, info = _prune(current, {**pcfg, "per_layer_ratio": ratios}, family, inputs)
    return model, info, plan, keep


def _prune(model: Any, pcfg: Mapping[str, Any], family: Any, inputs: Any) -> tuple[Any, dict[str, Any]]:
    from asc.prune import prune_any, prune_model

    return prune_model(model, pcfg) if family is None else prune_any(model, pcfg, family, inputs)


def _targets(shot: Mapping[str, Any], family: Any) -> dict[str, Any]:
    """From a pruning's info (the one-shot pruning of the baseline, or an own-count step's cut): the units a step
    prunes (a layer C1…; on a dependency-graph network a coupled group, with the layer names its ratio is given
    by), their filters before the cut (``original``) and the kept counts (``target``)."""
    if family is None:
        units = {layer: [layer] for layer in shot["layers"]}
    else:
        units = {label: list(names) for label, names in shot["selected"].items()}
    first = {u: names[0] for u, names in units.items()}
    return {
        "units": units,
        "original": {u: len(shot["l1_norms"][n]) for u, n in first.items()},
        "target": {u: len(shot["kept"][n]) for u, n in first.items()},
    }


def short_finetune(step: Step, model: Any, ctx: Context, work: Path) -> tuple[Any, dict[str, Any]]:
    """Fine-tune ``model`` as the step's ``schedule.finetune`` says, through :func:`asc.pipeline.stages.train.train_runs`
    (its keyed ``bn_recalibration`` and ``examples`` apply as in the finetune stage; hard labels, selection on
    ``finetune.select_on``); returns (the selected model, a summary of its training for info.json)."""
    import shutil

    import numpy as np
    import torch

    from asc.data.fractions import nested_fractions
    from asc.pipeline.stages.train import recipe_of, train_runs
    from asc.training.train import Run

    tune = step.config["schedule"]["finetune"]
    f = ctx.cfg["finetune"]
    splits = ctx.splits(step)
    pool, select = splits.pool(tune["train_on"]), splits.selection(tune["select_on"])
    share = float(tune["fraction"])
    positions = nested_fractions(pool.rows, [share], seed=int(tune["seed"]))[share]
    folder = work / "step_finetune"  # last.pt while it trains; removed once done
    run = Run(
        model,
        torch.as_tensor(np.asarray(positions), dtype=torch.long),
        int(tune["seed"]),
        folder,
        recipe_of({**f, **tune}),
        f"{step.label} fine-tuning",
    )
    (history,) = train_runs([run], pool, select, ctx=ctx, stage_cfg={**f, **tune})
    shutil.rmtree(folder, ignore_errors=True)
    summary = {k: history[k] for k in ("epochs", "train_seconds") if k in history}
    summary["train_examples"] = history["train_examples"]  # patches where examples=patches
    return run.model, summary
