"""Accuracy at deployment precision of a per-device artifact (stage ``perdevice``): the general network and every
device model written as fp32, fp16 and int8 ONNX files (asc/deploy/quantised.py, the quantise settings of the other
models) and each precision evaluated with the routing of :func:`asc.training.per_device.predict_routed`
(:func:`~asc.training.per_device.route_clips`, :func:`~asc.training.per_device.routed`).

Files: ``general/model_<p>.onnx`` and ``device_<d>/model_<p>.onnx`` for each device with a model (``device_<d>.pt``
in the perdevice artifact). Calibration: each model's int8 activation ranges come from its own training pool, never
a scored clip: a device model's from its device's clips of the fine-tuned subset it was trained on (the positions
:func:`asc.pipeline.stages.perdevice._device_models` trains on), the general model's from the training fold (as the
other quantise steps calibrate). Evaluation: each evaluation clip of a device with a model is scored by that
device's file, every other clip (unseen devices) by the general file, the probabilities put back in clip order and
scored as the per-device row's routed accuracy is (:func:`asc.training.evaluate.metrics`).

Columns: ``accuracy_*``, ``class_avg_accuracy_*``, ``log_loss_*`` per precision, and ``onnx_bytes_<p>`` = the sum of
the bytes of every file of precision ``p`` (the general one and each device's): the deployed system holds all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.pipeline.step import Step

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)

GENERAL = "general"  # the folder of the general model's files (its name in the routing: "")


def files_label(cfg: Mapping[str, Any], perdevice: Step) -> str:
    """What the quantise step of the per-device artifact ``perdevice`` writes, for its plan line: ``15 ONNX files
    (the general model and 4 device models, each fp32, fp16 and int8)``. The device models are those of the known
    devices with clips in the training pool (the index's preview, asc/pipeline/stages/index.py); ``up to`` where the
    pool is not known yet (every known device counted) or the subset drawn from it may lack a device's clips."""
    from asc.deploy.quantised import PRECISIONS

    devices, known = device_count(cfg)
    whole = known and "split" not in perdevice.args and float(perdevice.args["fraction"]) == 1.0
    files = len(PRECISIONS) * (1 + devices)
    return (
        f"{'' if whole else 'up to '}{files} ONNX files (the general model and {devices} device models, each "
        f"{', '.join(PRECISIONS[:-1])} and {PRECISIONS[-1]})"
    )


def device_count(cfg: Mapping[str, Any]) -> tuple[int, bool]:
    """(device models, whether the pool is known): the known devices with clips in the training pool (the index's
    preview, asc/pipeline/stages/index.py), else every known device (the most a per-device artifact holds)."""
    from asc.data.fractions import pool_of
    from asc.pipeline.stages import index
    from asc.pipeline.stages.perdevice import KNOWN_DEVICES

    table = index.preview(cfg)
    if table is None or "device" not in table:
        return len(KNOWN_DEVICES), False
    pool = pool_of(table, cfg["finetune"]["train_on"])
    return len(set(KNOWN_DEVICES) & set(pool["device"].astype(str))), True


def device_pools(perdevice: Step, ctx: Context) -> dict[str, Any]:
    """{device: positions into the perdevice stage's training pool} of each device model's training clips: its
    device's clips of the fine-tuned step's subset (as asc/pipeline/stages/perdevice.py draws them), for the
    devices the artifact holds a model of (``device_<d>.pt``; the devices without clips were named, once, when
    the perdevice stage trained)."""
    import numpy as np

    from asc.pipeline.stages.finetune import subset_of
    from asc.training.per_device import device_subsets

    have = device_models(ctx.path(perdevice))
    if not have:
        return {}
    pool = ctx.splits(perdevice).pool(ctx.cfg["finetune"]["train_on"])
    subset = np.asarray(subset_of(perdevice.up("finetune"), pool.rows, ctx))
    per_device = device_subsets(pool.rows.iloc[subset].reset_index(drop=True), have)
    return {d: subset[p] for d, p in per_device.items()}


def device_models(folder: Path) -> list[str]:
    """The known devices (:data:`asc.pipeline.stages.perdevice.KNOWN_DEVICES`, in order) whose model the per-device
    artifact ``folder`` holds (``device_<d>.pt``)."""
    from asc.pipeline.stages.perdevice import KNOWN_DEVICES

    return [d for d in KNOWN_DEVICES if (folder / f"device_{d}.pt").is_file()]


def build(step: Step, perdevice: Step, work: Path, ctx: Context) -> dict[str, Any]:
    """Write and evaluate the files of the per-device artifact ``perdevice`` into ``work``; returns the columns
    (also written as ``columns.json``, the per-file scores as ``scores.json``)."""
    from asc.core.atomic import atomic_write_json
    from asc.deploy import quantised
    from asc.nets import family_of, input_shape_of
    from asc.training.per_device import route_clips, routed

    cfg, settings = ctx.cfg, step.config
    shape = None if family_of(cfg["model"]).exact_surgery else input_shape_of(cfg["model"], cfg["features"])
    splits = ctx.splits(step)
    folder = ctx.path(perdevice)
    pool = splits.pool(cfg["finetune"]["train_on"])
    # models by their name in the routing ("": the general one); calibration: the training fold for the general
    # model (the other quantise steps' rule), each device model's own training clips
    calibration = {"": splits.train.x.numpy()}
    calibration |= {d: pool.x.numpy()[pos] for d, pos in device_pools(perdevice, ctx).items()}
    models = {"": folder / "model.pt"} | {d: folder / f"device_{d}.pt" for d in calibration if d}
    paths = {
        name: _write(checkpoint, calibration[name], work, name, settings, shape)
        for name, checkpoint in models.items()
    }
    ev, task = splits.evaluate, ctx.task
    route = route_clips(ev.rows["device"].tolist(), models)
    x, batch = ev.x.numpy(), int(ctx.runtime["eval_batch_size"])

    def answer(precision: str) -> Any:
        # a routed clip's probabilities from its model's file of this precision
        return lambda name, rows: quantised.onnx_probabilities(
            paths[name][precision], x[rows], batch_size=batch, multi_label=task.multi_label
        )

    scores = {p: scores_of(routed(route, answer(p)), ev, task) for p in quantised.PRECISIONS}
    atomic_write_json(work / "scores.json", scores)
    # the metric columns as every quantise step's; the bytes of all of a precision's files, not the general one's
    cols = quantised.columns(paths[""], scores, task.columns)
    cols |= {
        f"onnx_bytes_{p}": sum(files[p].stat().st_size for files in paths.values())
        for p in quantised.PRECISIONS
    }
    atomic_write_json(work / "columns.json", cols)
    m = task.metric
    log.info(
        "%s: routed %s fp32 %.4f, fp16 %.4f, int8 %.4f (%d int8 files, %d bytes)",
        perdevice.label,
        m,
        cols[f"{m}_fp32"],
        cols[f"{m}_fp16"],
        cols[f"{m}_int8"],
        len(paths),
        cols["onnx_bytes_int8"],
    )
    return {k: v for k, v in cols.items() if k.startswith(m)}


def _write(checkpoint: Path, x: Any, work: Path, name: str, settings: Any, shape: Any) -> dict[str, Path]:
    """The fp32/fp16/int8 files of the model ``checkpoint`` (routing name ``name``, "" for the general one) in its
    folder of ``work``, int8 calibrated on clips drawn from its training clips ``x`` (the quantise settings' rule)."""
    from asc.deploy import quantised
    from asc.nets.checkpoint import load

    model, _ = load(checkpoint)
    picked = quantised.calibration_positions(
        len(x), settings["calibration_clips"], settings["calibration_seed"]
    )
    out = work / (f"device_{name}" if name else GENERAL)
    out.mkdir(parents=True, exist_ok=True)
    return quantised.write_files(model.cpu().eval(), out, x[picked], settings, shape)


def scores_of(probs: Any, ev: Any, task: Any) -> dict[str, Any]:
    """The metrics of one file's probabilities on the evaluation split, as :func:`asc.training.evaluate.evaluate` scores
    the PyTorch model: tagging metrics (mAP, AUC, d′) or accuracy, class-averaged accuracy and log loss."""
    if task.multi_label:
        from asc.training.tagging_metrics import tagging_metrics

        return tagging_metrics(probs, ev.y.numpy(), getattr(ev, "classes", None))
    from asc.data.tau import SCENES
    from asc.training.evaluate import metrics

    return metrics(probs, ev.y.numpy(), ev.rows["device"].tolist(), SCENES)
