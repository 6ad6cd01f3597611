"""Stage ``prune``: one criterion config applied to the baseline: kept filters, surgery, accuracy before
fine-tuning, and what the report plots of the unpruned filters (closest distances, l1 norms).

Key: the criterion config (the `runs` blocks' criteria × layer sets, or the one `prune=<name>` selects) and the
baseline's key (one step: asc/pipeline/stages/prune_steps.py). With ``prune.schedule`` = k > 1 (iterative
pruning, asc/prune/schedule.py) a criterion config is a chain of k steps, each an artifact of its own keyed by its
upstream step (asc/pipeline/stages/prune_schedule.py): a job killed mid-way reuses the finished steps; the last
step is what fine-tuning starts from. Checked before anything is built: given kept indices against the layers'
widths.

Dispatch by the model's family (asc/nets/families.py): a family with ``exact_surgery`` (the DCASE21/22 family)
keeps the hand surgery of asc/prune/surgery.py, its keys and numbers; every other network is pruned by
dependency-graph surgery (asc/nets/groups.py) and checked at planning on its traced network
(asc/pipeline/stages/prune_graph.py; the DCASE family's planning stays torch-free here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from asc.core.disk import Need
from asc.core.errors import InputError
from asc.pipeline.stages import prune_blocks, prune_schedule
from asc.pipeline.stages.baseline import pruned_need
from asc.pipeline.stages.prune_graph import check_graph, example_inputs, graph_family
from asc.pipeline.stages.prune_steps import criterion_config, label_of, prune_step
from asc.pipeline.stages.train import baseline_spec
from asc.pipeline.step import Step
from asc.prune import block_choice, budget, schedule, sensitivity
from asc.prune.blocks import check_removes_some

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)


def _layers(layers: Any) -> list[str]:
    return [layers] if isinstance(layers, str) else [str(x) for x in layers]


class Block(NamedTuple):
    """One pruned network of a job and what its `runs` block asks of it: fine-tuning on each of our stratified
    ``fractions`` and each official DCASE 2024 ``splits`` (split5 … split100), ``repeats`` times each, and with
    ``per_device`` one copy per known device on top of each fine-tuned network (asc/pipeline/stages/perdevice.py)."""

    config: dict[str, Any]
    fractions: list[float]
    splits: list[str]
    repeats: int
    per_device: bool
    graph: bool = False  # the network is pruned by dependency-graph surgery (see prune_step)
    teacher: Any = (
        None  # the block's own finetune.teacher (asc/pipeline/stages/teacher.py); None: the global one
    )


def prune_runs(cfg: Mapping[str, Any]) -> list[Block]:
    """Every block entry: the `runs` blocks' criteria × layer sets, or with `prune=<name>` selected that one
    config in place of every block's criteria and layer sets; a block with ``sensitivity`` ratios scans each of
    them × each ratio (asc/prune/sensitivity.py)."""
    selected = cfg.get("prune")
    graph = bool(cfg["runs"]) and graph_family(cfg) is not None
    out = []
    for i, block in enumerate(cfg["runs"]):
        scan = sensitivity.ratios_of(block)  # a sensitivity scan: criterion x layer set x ratio
        if selected:
            configs = [dict(selected, layers=_layers(selected["layers"]))]
            configs = sensitivity.configs(configs[0], block, own_layers=True) if scan else configs
        else:
            configs = []
            for name in block.get("criteria") or []:
                if name not in cfg["criteria"]:
                    raise InputError(
                        f"runs[{i}].criteria names {name!r}, which is not a criterion config; "
                        f"valid: {', '.join(sorted(cfg['criteria']))}"
                    )
                base = dict(cfg["criteria"][name])
                if scan:
                    configs += sensitivity.configs(base, block)
                    continue
                for layers in block.get("layer_sets") or [base["layers"]]:
                    configs.append(dict(base, layers=_layers(layers)))
        fractions = [float(f) for f in block.get("fractions") or []]
        splits = [str(s) for s in block.get("splits") or []]
        configs = budget.chosen_all(cfg, configs, selected=bool(selected), graph=graph, scan=scan)
        for c in configs:  # checked at planning: a schedule asc cannot run is one line
            schedule.check("prune" if selected else f"criteria.{c['name']}", c)
        repeats, per_device = block_repeats(block, cfg), bool(block.get("per_device"))
        teacher = block.get(
            "teacher"
        )  # a KD block beside hard-label ones: its rows pool apart (asc.report.rows)
        out += [Block(c, fractions, splits, repeats, per_device, graph, teacher) for c in configs]
    return out


def block_repeats(block: Mapping[str, Any], cfg: Mapping[str, Any]) -> int:
    """How often a `runs` block fine-tunes each fraction or split: its own ``repeats``, else the top-level
    ``repeats`` (which fills every block that does not set its own)."""
    own = block.get("repeats")
    return int(own if own is not None else cfg.get("repeats") or 0)


def chain_of(cfg: Mapping[str, Any], block: Block, baseline: Step, data: tuple[Step, Step]) -> list[Step]:
    """The pruning steps of a block entry, in order: the one-shot step, or the k steps of its schedule (each
    after the previous; ``data``: the features and index steps its short fine-tunings read). The last one is the
    pruned network that fine-tuning starts from."""
    if schedule.steps_of(block.config) == 1:
        return [prune_step(block.config, baseline, block.graph)]
    return prune_schedule.plan_chain(cfg, block.config, label_of(block.config), baseline, data)


def final_step(cfg: Mapping[str, Any], block: Block, baseline: Step, data: tuple[Step, Step]) -> Step:
    """The pruned network a block entry fine-tunes: the last step of :func:`chain_of`."""
    return chain_of(cfg, block, baseline, data)[-1]


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    baseline = up["train"][0]  # pruning starts from the first seed's baseline
    data = (up["features"][0], up["index"][0])
    return [s for block in prune_runs(cfg) for s in chain_of(cfg, block, baseline, data)]


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    prune_schedule.check(steps, cfg)  # a schedule's short fine-tunings draw their share of the pool
    family = graph_family(cfg) if steps else None
    if family is not None:
        return check_graph(steps, cfg, family)
    spec = baseline_spec(cfg)
    widths = {f"C{i + 1}": int(w) for i, w in enumerate(spec["widths"])}
    given = [s for s in steps if s.config["name"] == "given"]
    if given:
        from asc.prune.given import check_kept

        for step in given:
            check_kept(criterion_config(step), widths)
    for step in steps:
        if "schedule" not in step.config:  # a schedule's steps keep their own geometric counts
            check_removes_some(step.label, criterion_config(step), widths)
    # Nystrom's m columns of an n-filter layer's similarity: m >= n is the exact similarity
    for step in steps:
        landmarks = step.config.get("landmarks")
        for layer in step.config.get("layers") or []:
            m = landmarks.get(layer) if isinstance(landmarks, Mapping) else landmarks
            if isinstance(m, int) and m > widths.get(layer, m):
                log.info(
                    "%s: landmarks=%d for %s, which has %d filters: every filter is a landmark (the exact "
                    "similarity, as asc/prune/representatives.py clamps m)",
                    step.label,
                    m,
                    layer,
                    widths[layer],
                )
    return [(step, pruned_need(cfg, step, spec)) for step in steps]


def facts(info: Mapping[str, Any], baseline: Any) -> dict[str, Any]:
    """The results-row fields a pruning decides, for its own row and its fine-tuned networks' rows. The paper's
    MAC convention (asc/nets/complexity.py) is the DCASE family's: after a dependency-graph pruning (its info has a
    ``history``) the row's macs_paper stays the network's counted MACs (asc/report/rows.py)."""
    from asc.nets.complexity import paper_macs

    kept = " ".join(f"{k}:{len(v)}/{len(info['l1_norms'][k])}" for k, v in info["kept"].items())
    paper = {} if "history" in info else {"macs_paper": paper_macs(baseline, info["kept"])}
    return {
        "criterion": info["criterion"],
        "layers": "+".join(info["layers"]),
        "ratio": info.get("ratio"),  # the config's share removed (None: the criterion decides its count)
        "kept": kept,
        "kept_indices": json.dumps(info["kept"]),
        **paper,
        **similarity_seconds(info),
        **prune_blocks.row_field(info),  # a measured block choice: its timings and counts
    }


def similarity_seconds(info: Mapping[str, Any]) -> dict[str, float]:
    """Wall time (s, summed over the pruned layers) of the criterion's similarity matrix, where it builds one:
    similarity_s (cosine: the full matrix; nystrom: its approximation) and exact_similarity_s (nystrom: the full
    matrix on the same weights), so that a row gives the Nystrom paper's ratio (11.71 s vs 34.81 s on VGGish_Net)."""
    return {
        key: float(sum(info[key].values()))
        for key in ("similarity_s", "exact_similarity_s")
        if isinstance(info.get(key), Mapping) and info[key]
    }


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.core.atomic import atomic_write_json
    from asc.training.evaluate import evaluate

    family = graph_family(ctx.cfg) if steps else None
    inputs = None if family is None else example_inputs(ctx.cfg)
    for step in steps:
        baseline_step = step.origin("train")

        def build(work: Path, step: Step = step, baseline_step: Step = baseline_step) -> dict[str, Any]:
            if "schedule" in step.config:  # one step of iterative pruning (prune_schedule.py)
                baseline, model, info, graph = prune_schedule.build_step(step, work, ctx, family, inputs)
            else:
                baseline, model, info, graph = one_shot(
                    step, ctx.path(baseline_step) / "model.pt", ctx, family, inputs
                )
            (score,) = evaluate(
                [model],
                ctx.splits(baseline_step).evaluate,
                batch_size=int(ctx.runtime["eval_batch_size"]),
                device=ctx.device,
                task=ctx.task,
            )
            atomic_write_json(work / "info.json", info)
            # a measured block choice (asc/prune/block_choice.py): beside the kept indices, and one log line
            if "blocks" in info:
                atomic_write_json(work / "blocks.json", info["blocks"])
                log.info(
                    "%s: block %d where measured faster: %s",
                    step.label,
                    info["blocks"]["block"],
                    block_choice.summary(info["blocks"]["layers"]),
                )
            ctx.publish(
                step,
                work,
                model,
                score,
                **graph,
                **facts(info, baseline),
                seed=int(step.config.get("seed", 0)),
                baseline_seed=int(baseline_step.args["seed"]),
                closest_distance=json.dumps(info.get("closest_distance", {})),
                l1_norms=json.dumps(info["l1_norms"]),
                **prune_schedule.training_of(info),  # a schedule step's short fine-tuning, else 0 s, 0 epochs
                **prune_schedule.row_fields(step),
            )
            log.info(
                "pruned %s: widths %s, %s before fine-tuning %.4f",
                step.label,
                info["widths"],
                ctx.task.metric,
                score[ctx.task.metric],
            )
            return {"widths": info["widths"], ctx.task.metric: score[ctx.task.metric]}

        ctx.build(step, build)
    ctx.record(steps)


def one_shot(step: Step, path: Path, ctx: Context, family: Any, inputs: Any) -> tuple[Any, Any, dict, dict]:
    """Prune the baseline at ``path`` in one step, by the family's surgery; returns (baseline, pruned model, info,
    what the row's ``publish`` takes besides: ``full`` and, on a dependency-graph network, ``history``), as
    :func:`asc.pipeline.stages.prune_schedule.build_step` does for a schedule's step."""
    from asc.prune import prune_any, prune_model

    pcfg = criterion_config(step)
    if family is None:  # the DCASE family: exact hand surgery, its numbers and keys unchanged
        from asc.nets.complexity import complexity
        from asc.nets.model import load_model

        baseline, _ = load_model(path)
        model, info = _pruned(baseline, pcfg, prune_model, ctx)
        return baseline, model, info, {"full": complexity(baseline)}
    # dependency-graph surgery; the checkpoint carries the history (asc/nets/checkpoint.py)
    from asc.nets.checkpoint import load
    from asc.nets.cost import count

    baseline, _ = load(path)
    model, info = _pruned(baseline, pcfg, lambda net, c: prune_any(net, c, family, inputs), ctx)
    return baseline, model, info, {"full": count(baseline, ctx.cfg), "history": info["history"]}


def _pruned(baseline: Any, pcfg: dict[str, Any], prune: Any, ctx: Context) -> tuple[Any, dict[str, Any]]:
    """``prune(baseline, pcfg)``, or with ``block_choice=measured`` the block where it measures faster on this
    machine (asc/pipeline/stages/prune_blocks.py)."""
    if not block_choice.is_measured(pcfg):
        return prune(baseline, pcfg)
    from asc.nets import input_shape_of

    shape = input_shape_of(ctx.cfg["model"], ctx.cfg["features"])
    return prune_blocks.measured(baseline, pcfg, prune, prune_blocks.example_batch(shape))
