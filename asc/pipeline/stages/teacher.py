"""Stage ``teacher``: the teacher's logits on every training-fold clip, computed once, for knowledge distillation
in fine-tuning (``finetune.teacher``; the loss and the settings are asc/training/distill.py's).

One artifact per teacher: ``logits.npy`` (N, classes) float32 and ``clips.csv`` (the N clip names, fold1_train:
train then validation rows). Key: ``baseline``: the unpruned network's key (upstream); ``ensemble``: every
``train.seeds`` baseline's key (their mean logits); a logits file: its SHA-256 (its bytes, never its path), with
the features and index the clips are ordered by. A fine-tuning step that distils reads this artifact (it is its
upstream, so its key changes with the teacher's) plus ``finetune.distill`` (alpha, T, kl_mean); with
``finetune.teacher=none`` nothing is planned here and no fine-tuning key changes. Checked at planning: the
distillation settings, and a logits file's columns (filename + one per class) and that its clips cover every
training clip (when the index is known then).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.core.errors import InputError
from asc.pipeline.stages.prune import prune_runs
from asc.pipeline.step import Step, make_step
from asc.report.rows import teacher_label
from asc.training import distill

if TYPE_CHECKING:
    from asc.pipeline.context import Context

log = logging.getLogger(__name__)

N_CLASSES = 10  # TAU's scenes (asc.data.tau.SCENES; asc.data.tasks.N_SCENES)


def scenes() -> list[str]:
    from asc.data.tau import SCENES

    return list(SCENES)


def teacher_step(
    cfg: Mapping[str, Any], baseline: Step, data: Sequence[Step], key: str = "finetune.teacher"
) -> Step | None:
    """The teacher artifact a fine-tuning run of a network pruned from ``baseline`` distils from (``data``: the
    features and index steps), or None for ``finetune.teacher=none``. ``key`` names the setting in an error
    (``runs[i].teacher`` for a block's own teacher, :func:`teacher_keys`)."""
    f = cfg["finetune"]
    kind = distill.kind(f.get("teacher", "none"))
    if kind == "none":
        return None
    features, idx = data
    if kind == "baseline":
        return make_step("teacher", f"teacher {baseline.label}", {"teacher": kind}, (baseline, features, idx))
    if kind == "ensemble":
        from asc.pipeline.stages import train

        members = train.plan(cfg, {"features": [features], "index": [idx]})
        label = f"teacher ensemble of {len(members)} baseline(s)"
        return make_step("teacher", label, {"teacher": kind}, (*members, features, idx))
    from asc.data.fingerprint import file_digest

    path = Path(str(f["teacher"]))
    if not path.is_file():
        raise InputError(
            f"{key}={path}: no such file; give none, baseline, ensemble or a CSV of teacher logits"
        )
    config = {"teacher": "file", "sha256": file_digest(path)}
    return make_step("teacher", f"teacher logits {path.name}", config, (features, idx), file=str(path))


def distill_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What a distilling fine-tuning step adds to its key (empty for ``finetune.teacher=none``)."""
    f = cfg["finetune"]
    if distill.kind(f.get("teacher", "none")) == "none":
        return {}
    return {"distill": distill.settings(f)}


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    (features,), (idx,) = up["features"], up["index"]
    baselines = {s.origin("train").id: s.origin("train") for s in up["prune"]}  # schedule steps: their origin
    steps = {}
    for key, teacher in teacher_keys(cfg):  # the global teacher and each `runs` block's own, each once
        for b in baselines.values():
            step = teacher_step(block_config(cfg, teacher), b, (features, idx), key)
            if step is not None:
                steps.setdefault(step.id, step)
    return list(steps.values())


def teacher_keys(cfg: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(key, teacher) of every teacher the job names: ``finetune.teacher`` (teacher None: the global one) and each
    `runs` block's own (``runs[i].teacher``), in that order; what an error about a teacher names."""
    prune_runs(cfg)  # a block's criteria are checked first, as its teacher follows them
    blocks = [b if isinstance(b, Mapping) else {} for b in cfg.get("runs") or []]
    own = [(f"runs[{i}].teacher", b["teacher"]) for i, b in enumerate(blocks) if b.get("teacher") is not None]
    return [("finetune.teacher", None), *own]


def key_of(cfg: Mapping[str, Any], path: str) -> str:
    """The key that names the teacher logits file ``path`` (the first that does)."""
    for key, teacher in teacher_keys(cfg):
        value = cfg["finetune"].get("teacher") if teacher is None else teacher
        if distill.kind(value) == "file" and str(Path(str(value))) == str(path):
            return key
    return "finetune.teacher"


def block_config(cfg: Mapping[str, Any], teacher: Any) -> Mapping[str, Any]:
    """``cfg`` with a `runs` block's own ``teacher`` (None: the global ``finetune.teacher``) in its finetune node."""
    return cfg if teacher is None else {**cfg, "finetune": {**cfg["finetune"], "teacher": teacher}}


NAME_BYTES = 256  # a clip's relative path and newline in clips.csv, at most


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    from asc.pipeline.stages import index

    if steps:
        distill.settings(cfg["finetune"])
    for step in steps:
        if "file" in step.args:
            key = key_of(cfg, step.args["file"])
            names, _ = distill.read_logits_file(step.args["file"], scenes(), key=key)
            table = index.preview(cfg)
            if table is not None:
                clips = table.loc[table["split"] != "evaluate", "filename"].tolist()
                distill.check_coverage(names, clips, step.args["file"], key=key)
    store = Path(cfg["paths"]["store"])
    return [
        (s, Need(store, logits_bytes(cfg), "teacher logits", "point paths.store at a larger disk"))
        for s in steps
    ]


def logits_bytes(cfg: Mapping[str, Any]) -> int:
    """What a teacher artifact writes: ``logits.npy``, float32 (training clips, classes), and ``clips.csv``
    (their names, :data:`NAME_BYTES` each, a generous bound), plus the artifact's small files; 4 MiB when the
    clips cannot be counted before the index exists."""
    from asc.core.disk import ARTIFACT_OVERHEAD
    from asc.data.tasks import classes_of
    from asc.pipeline.stages.index import approx_fold_clips

    clips = approx_fold_clips(cfg)
    if not clips:
        return 4 << 20
    return clips * (4 * classes_of(cfg["dataset"]) + NAME_BYTES) + ARTIFACT_OVERHEAD


def run(steps: Sequence[Step], ctx: Context) -> None:
    for step in steps:
        ctx.build(step, lambda work, s=step: _build(s, work, ctx))


def _build(step: Step, work: Path, ctx: Context) -> dict[str, Any]:
    import numpy as np
    import torch

    from asc.core.atomic import atomic_path, atomic_write_text
    from asc.nets.model import load_model

    pool = ctx.splits(step).fold1_train
    clips = pool.rows["filename"].astype(str).tolist()
    if "file" in step.args:
        names, table = distill.read_logits_file(step.args["file"], scenes())
        distill.check_coverage(names, clips, step.args["file"])
        row = {n: i for i, n in enumerate(names)}
        logits = table[[row[c] for c in clips]]
    else:
        members = [u for u in step.upstream if u.stage == "train"]
        total = torch.zeros(len(clips), N_CLASSES, dtype=torch.float64)
        batch = int(ctx.runtime["eval_batch_size"])
        for member in members:
            model = load_model(ctx.path(member) / "model.pt")[0].eval()
            with torch.inference_mode():
                total += torch.cat(
                    [model(pool.x[i : i + batch]) for i in range(0, len(clips), batch)]
                ).double()
        logits = (total / len(members)).float().numpy()
    with atomic_path(work / "logits.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, logits.astype(np.float32))
    atomic_write_text(work / "clips.csv", "filename\n" + "\n".join(clips) + "\n")
    log.info("%s: logits of %d training clips", step.label, len(clips))
    return {"clips": len(clips)}


def run_teacher(step: Step, pool_rows: Any, ctx: Context) -> dict[str, Any] | None:
    """The :class:`asc.training.train.Run` ``teacher`` of a fine-tuning step: its teacher's logits aligned with the
    fine-tuning pool's rows (``pool_rows``: the pool's index rows), alpha, T and kl_mean; None without one."""
    import numpy as np
    import pandas as pd
    import torch

    source = next((u for u in step.upstream if u.stage == "teacher"), None)
    if source is None:
        return None
    folder = ctx.path(source)
    logits = np.load(folder / "logits.npy")
    where = {n: i for i, n in enumerate(pd.read_csv(folder / "clips.csv")["filename"].astype(str))}
    order = [where[n] for n in pool_rows["filename"].astype(str)]
    return {"logits": torch.from_numpy(logits[order]), **step.config["distill"]}


def row_fields(step: Step) -> dict[str, Any]:
    """A distilling fine-tuning row's ``teacher`` column (the teacher's label); none for hard labels only."""
    label = teacher_label(step)
    return {"teacher": label} if label else {}
