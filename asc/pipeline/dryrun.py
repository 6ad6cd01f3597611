"""``asc dry_run=true``: the plan as a table — stage, key, status (cached, missing, damaged: rebuilt or refused,
always: the report, given: a dataset folder the user brought), label, training examples — after the
recipes the job trains with.

Status reads only manifests (and, for TAU, whether the dataset folder is complete); example counts are exact
wherever the index is known before building (asc/pipeline/stages/index.py ``preview``: generated sets, a user's own
folder, a built index), else estimates marked ``~``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.disk import Need
from asc.data.kinds import kind_of
from asc.data.split_files import fraction_of
from asc.pipeline.chain import STAGES, STORE_OF
from asc.pipeline.eta import tuned_count, tuned_units
from asc.pipeline.plan import approx_examples_per_epoch, damage, is_built
from asc.pipeline.stages import index
from asc.pipeline.stages.finetune import pool_of
from asc.pipeline.step import Step, schedule_finetune
from asc.report.rows import dataset_label


def _status(step: Step, cfg: Mapping[str, Any]) -> str:
    if not STORE_OF[step.stage]:
        return "always"
    if (
        step.stage == "dataset" and "root" in step.args
    ):  # a folder (asc.pipeline.stages.dataset.plan), not generated
        from asc.data.layouts import layout_of
        from asc.data.prepare import is_complete

        d, layout = cfg["dataset"], layout_of(cfg["dataset"])
        if not d.get("download", True) or (layout is not None and not layout.downloadable):
            return "given"  # the user's own folder: used as it is, never built
        complete = layout.complete if layout is not None else is_complete
        return "cached" if complete(Path(d["root"])) else "missing"
    if not is_built(cfg, step):
        return "missing"
    return "damaged" if damage(cfg, step) else "cached"


def _examples(steps: Sequence[Step], cfg: Mapping[str, Any]) -> Callable[[Step], str]:
    """Training examples of a step, as its results row counts them (patches where its stage trains on patches,
    asc/training/patch_examples.py): exact where the index is known (the very subset draw), else ``~`` estimates."""
    clips = _clips(steps, cfg)
    return lambda step: _times(clips(step), _per_clip(cfg, step.stage))


def _per_clip(cfg: Mapping[str, Any], stage: str) -> int:
    """Training examples per clip of ``stage`` (train, finetune, perdevice; a schedule step's fine-tune: finetune)."""
    from asc.training.patch_examples import per_example_clip

    if stage not in ("train", "finetune", "perdevice"):
        return 1
    return per_example_clip(cfg.get(stage) or {}, cfg["model"], cfg["features"])


def _times(count: str, k: int) -> str:
    """``"240"`` or ``"~240"`` times ``k``, its ``~`` kept."""
    if k == 1:
        return count
    approx = count.startswith("~")
    return f"{'~' if approx else ''}{int(count.removeprefix('~')) * k}"


def _clips(steps: Sequence[Step], cfg: Mapping[str, Any]) -> Callable[[Step], str]:
    """Training clips of a step: exact where the index is known (the very subset draw), else ``~`` estimates."""
    idx = next(s for s in steps if s.stage == "index")
    built = Path(cfg["paths"]["store"]) / "index" / idx.key
    if is_built(cfg, idx):
        from asc.data.tau import load_index

        table = load_index(built)
    else:
        table = index.preview(cfg)
    if table is None:
        approx = approx_examples_per_epoch(cfg)
        return lambda step: f"~{approx(step)}"
    from asc.data.fractions import nested_fractions
    from asc.data.tasks import task_of

    train, pool = pool_of(table, "train"), pool_of(table, cfg["finetune"]["train_on"])

    def exact(step: Step) -> str:
        if "split" in step.args:  # an official split: its share of fold1_train (the files may not exist yet)
            return f"~{round(fraction_of(step.args['split']) * len(pool_of(table, 'fold1_train')))}"
        if step.stage == "train":
            return str(len(train))
        f = step.args["fraction"]
        strata = task_of(cfg["dataset"]).strata
        return str(len(nested_fractions(pool, [f], seed=step.args["subset_seed"], strata=strata)[f]))

    return exact


def recipes(cfg: Mapping[str, Any]) -> str:
    """One line naming the recipes the job trains with (the dataset chooses them unless the user did)."""
    t, f = cfg["train"], cfg["finetune"]
    if t.get("init_from"):
        base = f"baseline from train.init_from={t['init_from']} (not trained)"
    else:
        on = f", on {t['split']}" if t.get("split") else ""
        base = f"train={t['name']} ({t['epochs']} epochs, batch {t['batch_size']}, lr {t['lr']:g}, "
        base += f"seeds {list(t['seeds'])}{on})"
    tune = f"finetune={f['name']} ({f['epochs']} epochs, batch {f['batch_size']}, select on {f['select_on']})"
    return f"recipes on {dataset_label(cfg['dataset'])}: {base}; {tune}\n{training_mode(cfg)}"


def training_mode(cfg: Mapping[str, Any]) -> str:
    """How the job's networks train: fused (same-shape DCASE networks in one pass) or one by one."""
    from asc.nets import family_of

    fam = family_of(cfg["model"])
    if not fam.fusable:
        from asc.training.bn_stats import batches

        n = {k: batches(cfg.get(k) or {}) for k in ("train", "finetune")}
        bn = "".join(f"; {k}: BatchNorm recalibrated over {v} batches" for k, v in n.items() if v)
        return f"training: one by one (model={fam.name} is not fusable: asc/training/train_plain.py){bn}"
    fused = bool(cfg.get("runtime", {}).get("fuse", True))
    return f"training: {'fused (same-shape networks in one pass)' if fused else 'one by one (runtime.fuse=false)'}"


def costs(steps: Sequence[Step], cfg: Mapping[str, Any], needs: Sequence[Need]) -> list[str]:
    """What the job costs besides the table: the bytes it downloads, what it writes per file system (the disk
    check's needs) and its projected duration (asc/pipeline/eta.py: which rates, from where)."""
    from asc.core.disk import human_bytes, mount_point, planned_bytes
    from asc.data.layouts import layout_of
    from asc.pipeline.eta import Projection

    d, layout = cfg["dataset"], layout_of(cfg["dataset"])
    if layout is not None:  # a set of asc.data.layouts: its archives, when it is downloaded and not complete
        n = (
            sum(int(d["files"][a]["bytes"]) for a in d["archives"])
            if layout.downloadable and d.get("download", True) and not layout.complete(Path(d["root"]))
            else 0
        )
        where = f"{human_bytes(n)} into {d.get('download_dir')}"
        lines = [f"download: {where if n else 'nothing'}"]
    elif kind_of(d).generated or not any(s.stage == "dataset" for s in steps):
        lines = ["download: nothing"]
    else:
        from asc.data.prepare import download_bytes

        n, archives = download_bytes(d)
        where = f" in {archives} archive(s) into {d['download_dir']}" if n else ""
        lines = [f"download: {f'{human_bytes(n)} ({n / 1e9:.1f} GB)' if n else 'nothing'}{where}"]
    by_fs: dict[Path, list[Need]] = {}
    for need in needs:
        if need.bytes > 0 or need.transient > 0:
            by_fs.setdefault(mount_point(need.path), []).append(need)
    for fs, on in sorted(by_fs.items()):
        what: dict[str, int] = {}
        for n in on:
            what[n.what] = what.get(n.what, 0) + n.bytes
        peak = max(n.transient for n in on)
        parts = ", ".join(f"{w} {human_bytes(b)}" for w, b in what.items())
        parts += f", a checkpoint's rewrite {human_bytes(peak)}" if peak else ""
        lines.append(f"disk: {human_bytes(planned_bytes(on))} on the file system at {fs} ({parts})")
    if not by_fs:
        lines.append("disk: nothing to write")
    missing = [s for s in steps if _status(s, cfg) in ("missing", "damaged", "always")]
    lines.append(f"time: {Projection(cfg).describe(missing)}")
    return lines


def format_plan(
    steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str, needs: Sequence[Need] = ()
) -> str:
    wanted = set(STAGES[: STAGES.index(upto) + 1])
    shown = [s for s in steps if s.stage in wanted]
    examples_of = _examples(steps, cfg)
    tuned = tuned_units(cfg)  # an iterative-pruning step's short fine-tuning: example-epochs
    where = ", ".join(f"{k} {Path(cfg['paths'][k]).resolve()}" for k in ("store", "results"))
    lines = [recipes(cfg), f"paths: {where}", ""]
    lines += [f"{'stage':<9} {'key':<12} {'status':<7} {'examples':>9}  label"]
    counts: dict[str, list[int]] = {}
    for s in shown:
        trains = s.stage == "finetune" or (s.stage == "train" and not cfg["train"].get("init_from"))
        trains = trains or s.stage == "perdevice"
        examples = examples_of(s) if trains else ""
        if schedule_finetune(s) is not None:  # estimated: its pool's share, as before the index exists
            clips = round(tuned(s) / int(schedule_finetune(s)["epochs"]))
            examples = f"~{clips * _per_clip(cfg, 'finetune')}"
        status = _status(s, cfg)
        if STORE_OF[s.stage]:
            counts.setdefault(s.stage, [0, 0])[status == "cached"] += 1
        lines.append(f"{s.stage:<9} {s.key:<12} {status:<7} {examples:>9}  {s.label}")
    total = ", ".join(
        f"{stage} {sum(c)} ({c[1]} cached{_tuned(shown, stage)})" for stage, c in counts.items()
    )
    lines.append(f"\n{sum(map(sum, counts.values()))} artifacts: {total}.")
    lines += costs(shown, cfg, needs)
    lines.append("dry run: nothing was built.")
    return "\n".join(lines)


def _tuned(steps: Sequence[Step], stage: str) -> str:
    """``; 3 after a short fine-tune``: the iterative-pruning steps among a stage's that train first."""
    n = tuned_count(steps, stage)
    return f"; {n} after a short fine-tune" if n else ""


def report_only_plan(results: str | Path, figures: Mapping[str, Any] | None = None) -> str:
    """What ``report_only=true`` would do, for ``dry_run=true report_only=true``: which results table's rows
    rewrite which folder's tables and figures (latency as measured before), or that they are up to date
    (``figures``: the ``runtime.figures`` options; asc/report/report_record.py); nothing is written."""
    from asc.report.figure_output import from_config
    from asc.report.results import load
    from asc.report.write import is_current

    folder = Path(results).resolve()
    table = folder / "results.csv"
    if not table.is_file():
        what = (
            f"report only: no results table at {table} yet, so there is no report to rewrite (run asc first)"
        )
    else:
        rows = load(table)
        datasets = rows["dataset"].nunique() if "dataset" in rows else 0
        done = is_current(table, folder, figures=from_config(figures))
        what = (
            f"report only: the tables and figures in {folder} "
            + ("are up to date with" if done else "would be rewritten from")
            + f" {table} ({len(rows)} row(s) of {datasets} dataset(s); latency as measured before)"
        )
    return f"{what}\ndry run: nothing was written."
