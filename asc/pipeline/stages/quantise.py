"""Stage ``quantise``: every evaluated model (baseline, pruned, fine-tuned, per-device) written as fp32, fp16 and
int8 ONNX files and each file evaluated with onnxruntime on the evaluation split (asc/deploy/quantised.py has the
files, the quantiser and why it is ONNX Runtime's).

The precision evaluation changes the model's results row, not the model: the model artifacts and their keys are
untouched, and this stage's artifact (the three files and their scores) is keyed by the quantise settings
(``quantise`` minus ``enabled``) and the model's key, with the features and index it is evaluated and calibrated
on. Its ``run`` appends the model's row again (rows are keyed by ``run_id``: the new one replaces it) with
``accuracy_{fp32,fp16,int8}``, ``class_avg_accuracy_*``, ``log_loss_*`` and ``onnx_bytes_*`` (each file's size
in bytes); a tagging dataset's rows gain ``mAP_*``, ``auc_*`` and ``d_prime_*`` instead (the task's columns).
Every network of the zoo is covered: a zoo network's files take the input its model and features configs give
(:func:`asc.nets.input_shape_of`). A per-device artifact (stage ``perdevice``) gets one set of files per model (the
general one and each device's), each calibrated on its own training clips, evaluated with the per-device row's
routing; its ``onnx_bytes_*`` sum all of them (asc/pipeline/stages/quantise_devices.py).

``quantise.enabled``: auto (default) runs when onnx and onnxruntime are installed and otherwise logs one line and
plans nothing, so `asc` without the ``[export]`` extra works; true refuses at planning without them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.pipeline.step import Step, make_step

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)

MODEL_STAGES = ("train", "prune", "finetune", "perdevice")  # the stages whose artifact is an evaluated model
FILES_BYTES = 1 << 20  # three ONNX files of a baseline-sized network (fp32 ~200 kB) and scores, with room


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    from asc.deploy import quantised

    q = cfg["quantise"]
    settings = quantised.keyed(q)
    if not quantised.wanted(q):
        if q["enabled"] == "auto":
            log.info(
                "quantise: %s not installed, so no fp16/int8 accuracy columns (%s)",
                " and ".join(quantised.missing_packages()),
                quantised.INSTALL_HINT,
            )
        return []
    (features,), (idx,) = up["features"], up["index"]
    models = [s for stage in MODEL_STAGES for s in up[stage]]
    return [make_step("quantise", _label(cfg, s), settings, (s, features, idx)) for s in models]


def _label(cfg: Mapping[str, Any], model: Step) -> str:
    """The plan line of ``model``'s step: ``baseline seed 0 fp16+int8`` (its three files); a per-device artifact's
    says how many files its models make (:func:`asc.pipeline.stages.quantise_devices.files_label`)."""
    from asc.pipeline.stages.quantise_devices import files_label

    label = f"{model.label} fp16+int8"
    return f"{label}: {files_label(cfg, model)}" if model.stage == "perdevice" else label


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    from asc.nets import family_of
    from asc.pipeline.stages.baseline import stored_params
    from asc.pipeline.stages.quantise_devices import device_count

    fam = family_of(cfg["model"])
    # a zoo network's three files: 4 + 2 + 1 bytes a parameter of the configured network (an upper bound: pruned)
    size = FILES_BYTES if fam.exact_surgery else FILES_BYTES + 7 * stored_params(cfg)
    store = Path(cfg["paths"]["store"])
    # a per-device artifact: the general model and one per device with training clips (every known one if the
    # pool is not known yet)
    per_device = 1 + device_count(cfg)[0] if any(model_of(s).stage == "perdevice" for s in steps) else 1
    models = {s.id: per_device if model_of(s).stage == "perdevice" else 1 for s in steps}
    return [
        (s, Need(store, size * models[s.id], "ONNX files", "point paths.store at a larger disk"))
        for s in steps
    ]


def model_of(step: Step) -> Step:
    """The model step whose files ``step`` writes (its first upstream)."""
    return step.upstream[0]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.pipeline.stages import quantise_devices
    from asc.report import results

    for step in steps:
        if model_of(step).stage == "perdevice":  # a general model and one per device, routed
            ctx.build(step, lambda work, s=step: quantise_devices.build(s, model_of(s), work, ctx))
        else:
            ctx.build(step, lambda work, s=step: _build(s, work, ctx))
    rows = []
    for step in steps:
        row = json.loads((ctx.path(model_of(step)) / "row.json").read_text())
        row |= json.loads((ctx.path(step) / "columns.json").read_text())
        rows.append(row)
    results.append(ctx.results / "results.csv", rows)


def _build(step: Step, work: Path, ctx: Context) -> dict[str, Any]:
    from asc.core.atomic import atomic_write_json
    from asc.deploy import quantised
    from asc.nets import family_of, input_shape_of
    from asc.nets.model_file import read_model_file
    from asc.pipeline.stages.quantise_devices import scores_of

    model, _ = read_model_file(ctx.path(model_of(step)) / "model.pt")  # the DCASE family's or asc-net-1
    cfg = ctx.cfg
    shape = None if family_of(cfg["model"]).exact_surgery else input_shape_of(cfg["model"], cfg["features"])
    splits = ctx.splits(step)
    pool = splits.train  # the training fold minus the validation hold-out: never a clip that is scored
    settings = step.config
    picked = quantised.calibration_positions(
        len(pool.x), settings["calibration_clips"], settings["calibration_seed"]
    )
    paths = quantised.write_files(model.cpu().eval(), work, pool.x.numpy()[picked], settings, shape)
    ev, task = splits.evaluate, ctx.task
    batch = int(ctx.runtime["eval_batch_size"])
    scores = {
        p: scores_of(quantised.onnx_probabilities(path, ev.x.numpy(), batch_size=batch, multi_label=task.multi_label), ev, task)
        for p, path in paths.items()
    }  # fmt: skip
    atomic_write_json(work / "scores.json", scores)
    cols = quantised.columns(paths, scores, task.columns)
    atomic_write_json(work / "columns.json", cols)
    m = task.metric
    log.info(
        "%s: %s fp32 %.4f, fp16 %.4f, int8 %.4f (int8 file %d bytes)",
        model_of(step).label,
        m,
        cols[f"{m}_fp32"],
        cols[f"{m}_fp16"],
        cols[f"{m}_int8"],
        cols["onnx_bytes_int8"],
    )
    return {k: v for k, v in cols.items() if k.startswith(m)}
