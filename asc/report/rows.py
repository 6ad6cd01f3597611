"""Rows of the results table, built by one pure function from what a stage measured."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from asc.data.tasks import SCENES, Task

# The stages whose artifacts are evaluated models, each recording one results row, and their names in the table.
ROW_STAGE = {"train": "baseline", "prune": "prune", "finetune": "finetune", "perdevice": "per_device"}


def dataset_label(dataset: Mapping[str, Any], folder_key: str | None = None) -> str:
    """The results table's name for a dataset config: its ``label`` (a variant of a generated set, e.g. demo1s:
    its rows must not pool with the 10-s demo's), else its ``name``; for a folder the user brought (keyed by
    what it holds), ``<name>@<the first 8 characters of its dataset key>``, so the rows of two different copies
    never pool as repeats of one experiment (asc/pipeline/stages/dataset.py ``results_label``)."""
    name = str(dataset.get("label") or dataset["name"])
    return f"{name}@{folder_key[:8]}" if folder_key else name


def pooling_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """What the report pools repeats by, from a results row (strings as the CSV holds them): the stage, the
    criterion, layers and ratio (the share removed; empty where the criterion decides its count), the fine-tuning fraction or split, the repeat, the baseline's seed, the pruning
    schedule's step (``s/k`` from ``prune_step`` / ``prune_steps``; empty for one-shot pruning, so
    k = 3 rows never pool with k = 1 rows and the tables written before schedules keep their keys), ``qat`` for a
    quantisation-aware fine-tuning (asc/training/qat.py; empty otherwise: its int8 rows never pool with plain ones), the
    teacher of a distilling fine-tuning (empty for hard labels: a KD row is a row of its own, never a repeat of a
    hard-label one), the network family (:func:`family_of_row`: two families' rows in one results table are
    never repeats of each other; asc/report/networks.py keeps them apart in the report) and the test fold
    (``fold``: a cross-validation's folds are never repeats of each other; empty for a set without folds, so the
    tables written before folds keep their keys)."""
    fraction = row.get("fraction") or ""
    baseline_seed = row.get("baseline_seed") or row.get("seed") or ""
    return (
        str(row.get("stage", "")),
        str(row.get("criterion") or "none"),
        str(row.get("layers") or ""),
        ratio_of(row.get("ratio")),
        f"{float(fraction):g}" if fraction not in ("", "nan") else "",
        str(row.get("split") or ""),
        _whole(row.get("repeat")) if row.get("stage") == "finetune" else "",
        _whole(baseline_seed),
        schedule_label(row.get("prune_step"), row.get("prune_steps")),
        qat_of(row.get("qat")),
        teacher_of(row.get("teacher")),
        family_of_row(row.get("model_spec")),
        _whole(row.get("fold")),
    )


FAMILY_AT = -2  # where the pooling key holds the network family (the fold stays last)


def spec_of_row(model_spec: Any) -> dict[str, Any] | None:
    """A row's ``model_spec`` cell (JSON) as a dict; None where it is missing or unreadable (tables written before
    the column, a hand-edited cell)."""
    try:
        spec = json.loads(model_spec)
    except (TypeError, ValueError):
        return None
    return spec if isinstance(spec, dict) else None


def family_of_row(model_spec: Any) -> str:
    """The network family a row's ``model_spec`` names: a zoo family's ``name`` (``dcase2024``, ``vggish_asc``;
    asc/nets/families.py), ``dcase`` for the DCASE21/22 family (its spec names none), ``""`` for a row without a
    readable spec (a table written before it: it pools with any family, asc/pipeline/plan.py)."""
    from asc.nets.families import FAMILIES

    spec = spec_of_row(model_spec)
    if spec is None:
        return ""
    family = FAMILIES.get(str(spec.get("name")))
    return spec["name"] if family is not None and not family.exact_surgery else "dcase"


def family_of_config(model: Mapping[str, Any]) -> str:
    """:func:`family_of_row` of the rows a ``model`` config node will write."""
    from asc.nets.families import FAMILIES

    family = FAMILIES.get(str(model.get("name")))
    return str(model["name"]) if family is not None and not family.exact_surgery else "dcase"


def less_family(key: tuple[str, ...]) -> tuple[str, ...]:
    """A pooling key without its network family (what a row written before ``model_spec`` pools by)."""
    return key[:FAMILY_AT] + key[FAMILY_AT + 1 :]


def qat_of(value: Any) -> str:
    """What a row's ``qat`` column pools by: ``"qat"`` for a quantisation-aware fine-tuning (True, "True", 1 as
    a CSV may hold it), else ``""`` (missing in tables written before it, or false)."""
    return "qat" if str(value).strip().lower() in ("true", "1", "1.0") else ""


def fold_of(step: Any) -> str:
    """The test fold of the data a step is built from (its dataset step's ``fold``: ESC-50's, keyed as
    asc.data.layouts declares it), ``""`` for a set without folds."""
    data = step.origin("dataset")
    return "" if data is None else _whole(data.config.get("fold"))


def schedule_label(step: Any, steps: Any) -> str:
    """``"s/k"`` for step s of an iterative pruning of k steps (asc/prune/schedule.py); ``""`` for one-shot."""
    k = _whole(steps)
    return "" if k in ("", "1") else f"{_whole(step)}/{k}"


def prune_place(step: Any) -> tuple[int, int]:
    """(k, s): the number of pruning steps and the step of the prune artifact a step is built from (its own
    ``schedule`` entry, asc/pipeline/stages/prune_schedule.py); (1, 1) for one-shot pruning."""
    place = step.origin("prune").config.get("schedule") or {}
    return int(place.get("steps", 1)), int(place.get("step", 1))


def ratio_of(value: Any) -> str:
    """A row's or criterion config's ``ratio`` (the share of filters removed) as the pooling key holds it:
    ``"0.25"``; empty where the criterion decides its own count (no ratio)."""
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(ratio) else f"{ratio:g}"


def teacher_of(label: Any) -> str:
    """What a row's ``teacher`` column (:func:`teacher_label`: ``baseline seed 0``, ``ensemble of 3
    baseline(s)``, a file's label) pools by: the label less the baseline's seed, which the pooling key holds
    already (``baseline_seed``), so KD rows of several baseline seeds pool as one line; empty for hard labels."""
    text = "" if label is None or (isinstance(label, float) and math.isnan(label)) else str(label)
    return re.sub(r" seed -?\d+$", "", text)


def _whole(value: Any) -> str:
    """``"3"``, ``"3.0"`` and ``3`` alike (a CSV read as strings, or a step's int); empty when missing."""
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return ""


def step_pooling_key(step: Any) -> tuple[str, ...]:
    """:func:`pooling_key` of the row a train, prune or finetune step will write (asc.pipeline.step.Step)."""
    train = step.origin("train")
    seed = _whole(train.args["seed"]) if train is not None else ""
    family = family_of_config(train.config["model"]) if train is not None else ""
    if step.stage == "train":
        none = ("", "", "", "", "")  # layers, ratio, fraction, split, repeat
        return ("baseline", "none", *none, seed, "", "", "", family, fold_of(step))  # step, qat, teacher, ...
    prune = step.origin("prune")
    criterion, layers = str(prune.config["name"]), "+".join(prune.config["layers"])
    ratio = ratio_of(prune.config.get("ratio"))
    place = schedule_label(*reversed(prune_place(step)))
    if step.stage == "prune":
        return ("prune", criterion, layers, ratio, "", "", "", seed, place, "", "", family, fold_of(step))
    fraction = f"{float(step.args['fraction']):g}"
    split, repeat = str(step.args.get("split", "")), _whole(step.args["repeat"])
    teacher, quantised = teacher_of(teacher_label(step)), "qat" if step.config.get("qat") else ""
    where = (fraction, split, repeat, seed, place, quantised, teacher, family)
    return ("finetune", criterion, layers, ratio, *where, fold_of(step))


def teacher_label(step: Any) -> str:
    """The ``teacher`` column of a fine-tuning step's row: its teacher artifact's label (``baseline seed 0``,
    ``ensemble of 3 baseline(s)``, a logits file's label); empty for hard labels."""
    source = next((u for u in step.upstream if u.stage == "teacher"), None)
    return "" if source is None else source.label.removeprefix("teacher ")


def make_row(
    *,
    stage: str,
    run_id: str,
    dataset: str,
    scores: Mapping[str, Any],
    complexity: Mapping[str, int],
    full: Mapping[str, int],
    checkpoint: str,
    provenance: Mapping[str, Any] | None = None,
    task: Task = SCENES,
    **fields: Any,
) -> dict[str, Any]:
    """One row: identity, metrics, counted cost (``complexity`` of this model, ``full`` of the unpruned one),
    ``provenance`` (asc/core/provenance.py: versions, git commit, host; None leaves those columns empty) and any
    stage-specific ``fields`` (criterion, layers, fraction, timings, measured cost, ...)."""
    row = {
        "run_id": run_id,
        "stage": stage,
        "dataset": dataset,
        "fraction": math.nan,
        "repeat": 0,
        "finetuned": stage == "finetune",
        **{column: scores[column] for column in task.columns},  # accuracy, ... or mAP, auc, d_prime
        **complexity,
        "macs_paper": complexity["macs"],
        "checkpoint": checkpoint,
        **{f"acc_{d}": v["accuracy"] for d, v in scores.get("per_device", {}).items()},
        **(provenance or {}),
    }
    row.update(fields)
    row["params_reduction_pct"] = 100 * (1 - row["params_keras"] / full["params_keras"])
    row["macs_reduction_pct"] = 100 * (1 - row["macs"] / full["macs"])
    row["macs_paper_reduction_pct"] = 100 * (1 - row["macs_paper"] / full["macs"])
    return row
