"""Stage ``quantise``: every evaluated model (baseline, pruned, fine-tuned) written as fp32, fp16 and int8 ONNX
files and each file evaluated with onnxruntime on the evaluation split (asc/quantised.py has the files, the
quantiser and why it is ONNX Runtime's).

The precision evaluation changes the model's results row, not the model: the model artifacts and their keys are
untouched, and this stage's artifact (the three files and their scores) is keyed by the quantise settings
(``quantise`` minus ``enabled``) and the model's key, with the features and index it is evaluated and calibrated
on. Its ``run`` appends the model's row again (rows are keyed by ``run_id``: the new one replaces it) with
``accuracy_{fp32,fp16,int8}``, ``class_avg_accuracy_*``, ``log_loss_*`` and ``onnx_bytes_*`` (each file's size
in bytes). Per-device models (stage ``perdevice``) are not covered: their routed evaluation would need one set of
files per device.

``quantise.enabled``: auto (default) runs when onnx and onnxruntime are installed and otherwise logs one line and
plans nothing, so `asc` without the ``[export]`` extra works; true refuses at planning without them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.disk import Need
from asc.step import Step, make_step

if TYPE_CHECKING:
    from asc.context import Context

log = logging.getLogger(__name__)

MODEL_STAGES = ("train", "prune", "finetune")  # the stages whose artifact is one evaluated model.pt
FILES_BYTES = 1 << 20  # three ONNX files of a baseline-sized network (fp32 ~200 kB) and scores, with room


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    from asc import quantised

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
    from asc.nets import family_of

    if not family_of(cfg["model"]).exact_surgery:  # asc/export.py writes the DCASE family's input shape only
        log.info("quantise: model=%s is not of the DCASE family: no ONNX files or fp16/int8 columns for it yet",
                 cfg["model"]["name"])  # fmt: skip
        return []
    (features,), (idx,) = up["features"], up["index"]
    models = [s for stage in MODEL_STAGES for s in up[stage]]
    return [make_step("quantise", f"{s.label} fp16+int8", settings, (s, features, idx)) for s in models]


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    store = Path(cfg["paths"]["store"])
    return [(s, Need(store, FILES_BYTES, "ONNX files", "point paths.store at a larger disk")) for s in steps]


def model_of(step: Step) -> Step:
    """The model step whose files ``step`` writes (its first upstream)."""
    return step.upstream[0]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc import results

    for step in steps:
        ctx.build(step, lambda work, s=step: _build(s, work, ctx))
    rows = []
    for step in steps:
        row = json.loads((ctx.path(model_of(step)) / "row.json").read_text())
        row |= json.loads((ctx.path(step) / "columns.json").read_text())
        rows.append(row)
    results.append(ctx.results / "results.csv", rows)


def _build(step: Step, work: Path, ctx: Context) -> dict[str, Any]:
    from asc import quantised
    from asc.atomic import atomic_write_json
    from asc.data.tau import SCENES
    from asc.evaluate import metrics
    from asc.model import load_model

    model, _ = load_model(ctx.path(model_of(step)) / "model.pt")
    splits = ctx.splits(step)
    pool = splits.train  # the training fold minus the validation hold-out: never a clip that is scored
    settings = step.config
    picked = quantised.calibration_positions(
        len(pool.x), settings["calibration_clips"], settings["calibration_seed"]
    )
    paths = quantised.write_files(model.cpu().eval(), work, pool.x.numpy()[picked], settings)
    ev = splits.evaluate
    batch = int(ctx.runtime["eval_batch_size"])
    scores = {
        p: metrics(
            quantised.onnx_probabilities(path, ev.x.numpy(), batch_size=batch),
            ev.y.numpy(),
            ev.rows["device"].tolist(),
            SCENES,
        )
        for p, path in paths.items()
    }
    atomic_write_json(work / "scores.json", scores)
    cols = quantised.columns(paths, scores)
    atomic_write_json(work / "columns.json", cols)
    log.info(
        "%s: accuracy fp32 %.4f, fp16 %.4f, int8 %.4f (int8 file %d bytes)",
        model_of(step).label,
        cols["accuracy_fp32"],
        cols["accuracy_fp16"],
        cols["accuracy_int8"],
        cols["onnx_bytes_int8"],
    )
    return {k: v for k, v in cols.items() if k.startswith("accuracy")}
