"""The only Hydra entry point: compose → validate → plan → (print | execute) → report.

A failure prints one line (what is wrong and what to do); its traceback goes to the job's log file
(``<run dir>/cli.log``), or to the terminal too with ``ASC_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from asc.app.invocation import invocation_token, own_run_folder
from asc.app.sweep_overrides import per_job_overrides
from asc.core.config_files import CONF_DIR
from asc.core.disk import DiskSpaceError
from asc.core.errors import InputError

log = logging.getLogger("asc")
# run and sweep folders are <time>-${asc_invocation:} (conf/config.yaml): unique per invocation (asc/app/invocation.py)
OmegaConf.register_new_resolver("asc_invocation", invocation_token, replace=True)


def _log_file() -> str | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def _fail(err: BaseException) -> None:
    """One concise message on stderr; the full traceback only into the job's log file (or with ASC_DEBUG=1)."""
    where = _log_file()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(
                log.makeRecord(
                    log.name, logging.ERROR, __file__, 0, "failed", (), (type(err), err, err.__traceback__)
                )
            )
    if os.environ.get("ASC_DEBUG"):
        raise err
    hint = (
        f" (traceback in {where}; ASC_DEBUG=1 prints it)" if where else " (ASC_DEBUG=1 prints the traceback)"
    )
    print(f"asc: error: {err}{hint}", file=sys.stderr)


def run(
    plain: dict[str, Any],
    *,
    multirun: bool = False,
    prune_choice: str | None = None,
    overrides: list[str] | None = None,
) -> None:
    """Everything after composition, on the resolved config (tests call this directly); ``prune_choice`` and
    ``overrides``: the command line's ``prune=<file>`` and overrides, for asc.pipeline.config_effects."""
    from asc.app.sweep import plan_job
    from asc.core.locks import stale_after_default
    from asc.pipeline.config_effects import warn_meaningless
    from asc.pipeline.dryrun import format_plan, report_only_plan
    from asc.pipeline.plan import check_report_only, make_plan
    from asc.pipeline.stages import report
    from asc.pipeline.stages.dataset import results_label

    stale_after_default()  # $ASC_LOCK_STALE_AFTER, before any lock is taken
    # every value, its effect (asc/pipeline/config_effects.py), the plan and every input and disk: before any work; with
    # dataset.fold=[...] every fold job so (asc/pipeline/cross_validation.py), before the first fold is built
    from asc.pipeline.cross_validation import plan_folds

    jobs = plan_folds(plain, lambda job: plan_job(job, prune_choice=prune_choice, overrides=overrides or []))
    if jobs[0][1] is None:  # report_only
        check_report_only(plain["paths"]["results"])
        if plain["dry_run"]:  # a dry run writes nothing, whatever else the command asks
            print(report_only_plan(plain["paths"]["results"], plain["runtime"].get("figures")))
            return
        # the tables again; latency as measured before
        report.write(plain["paths"]["results"], None, figures=plain["runtime"].get("figures"))
        first = jobs[0][0]
        print("\n" + report.summary(plain["paths"]["results"], results_label(first, make_plan(first))) + "\n")
        return
    for job, (steps, _, _) in jobs:
        warn_meaningless(job, steps)
    if plain["dry_run"]:
        for job, (steps, _, needs) in jobs:
            if len(jobs) > 1:  # a cross-validation: each fold job's plan under its fold
                print(f"fold {job['dataset']['fold']} of {[j['dataset']['fold'] for j, _ in jobs]}:")
            print(format_plan(steps, job, upto=job["stage"], needs=needs))
        return
    from asc.pipeline.execute import execute  # after the dry run's return: planning reads no pandas
    from asc.report.tracking import prepare

    prepare(plain)  # the tracking store exists before anything records into it (a multirun: already created)
    if plain["runtime"]["num_threads"]:
        import torch

        torch.set_num_threads(int(plain["runtime"]["num_threads"]))
    folds = len(jobs) > 1  # a cross-validation: the report once, after the last fold
    for job, (steps, unseen, _) in jobs:
        execute(steps, job, upto=job["stage"], report=not multirun and not folds, unseen=unseen)
    if folds and plain["stage"] == "report" and not multirun:
        report.write(
            plain["paths"]["results"], plain["runtime"]["latency"], figures=plain["runtime"].get("figures")
        )
    if plain["stage"] == "report" and not multirun:
        steps = jobs[-1][1][0]
        print("\n" + report.summary(plain["paths"]["results"], results_label(jobs[-1][0], steps)) + "\n")


def check_recipe_choices(choices: Any) -> None:
    """``train=<name>`` / ``finetune=<name>`` name a file of conf/train/ or conf/finetune/. The groups are
    optional (they follow the dataset), so Hydra composes an unknown name as nothing, silently."""
    from asc.core.errors import ConfigError
    from asc.pipeline.validate import no_recipe

    for group in ("train", "finetune"):
        chosen = choices.get(group)
        if not chosen or (CONF_DIR / group / f"{chosen}.yaml").is_file():
            continue
        # the dataset's own recipe, absent: a dataset config of the user's
        if chosen == choices.get("dataset"):
            raise no_recipe(chosen, [group])
        have = ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))
        raise ConfigError(f"{group}={chosen} is not a recipe of conf/{group}/: choose one of {have}")


def experiments_help(width: int = 110) -> str:
    """One line per file of conf/experiment/ for ``asc --help``: its name and its first comment's first sentence
    (cut to ``width`` characters)."""
    lines = []
    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        comment = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            if not line.startswith("# @package"):
                comment.append(line.lstrip("# ").strip())
        text = " ".join(comment)
        first = re.split(r"\.\s+(?=[A-Z])", text)[0].rstrip(".")  # "Fig. 3" is no sentence end
        if len(first) > width - 24:
            first = first[: width - 25].rstrip() + "…"
        lines.append(f"  {path.stem:<21} {first}")
    return "\n".join(lines)


if not OmegaConf.has_resolver("asc_experiments"):  # read by the help template (conf/config.yaml hydra.help)
    OmegaConf.register_new_resolver("asc_experiments", experiments_help)


def main() -> None:
    """The ``asc`` command: Hydra's entry point on the command line made sweep-safe
    (:func:`asc.app.sweep_overrides.per_job_overrides`), its run folders unique per invocation, and Hydra's own
    errors (composition, the run folder) one line."""
    from asc.app.invocation import hydra_error_line, new_invocation, refuse_command_line
    from asc.core.config_cache import cache_config_files

    cache_config_files()  # Hydra composes twice per command and once per sweep job checked at planning
    sys.argv[1:] = per_job_overrides(sys.argv[1:])
    new_invocation()
    user_full_error = os.environ.get("HYDRA_FULL_ERROR")
    try:
        refuse_command_line(sys.argv[1:])
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors here instead of printing a traceback
        hydra_main()
    except InputError as err:
        print(f"asc: error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:
        line = None if user_full_error else hydra_error_line(err, sys.argv[1:])
        if line is None:
            raise
        print(f"asc: error: {line}", file=sys.stderr)
        sys.exit(1)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    if os.environ.get("ASC_MALLOC_TUNED"):
        log.info(
            "glibc malloc tuned for large tensors (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); "
            "set ASC_MALLOC_TUNING=0 to disable"
        )
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        # before resolving: finetune.lr is ${train.lr}, which a missing train recipe leaves dangling
        check_recipe_choices(hc.runtime.choices)
        choice, overrides = hc.runtime.choices.get("prune"), list(hc.overrides.task)
        plain = resolved(cfg, hc, multirun)
        # a single run's folder: already held since before Hydra wrote into it (asc/app/run_folder.py), not again
        with own_run_folder(hc.runtime.output_dir, "hydra.sweep.dir" if multirun else "hydra.run.dir"):
            run(plain, multirun=multirun, prune_choice=choice, overrides=overrides)
    except KeyboardInterrupt:  # Ctrl-C: what was published stays; unfinished work is resumed by the next run
        print(
            "asc: interrupted; rerun the same command to resume (finished artifacts are kept)",
            file=sys.stderr,
        )
        sys.exit(130)
    except Exception as err:
        if multirun and not isinstance(err, InputError | DiskSpaceError):
            log.exception("job failed")  # a fault of the program: the launcher reports it, with its traceback
            raise
        _fail(err)  # a user's input: one line; in a sweep it stops there (the other jobs would meet it too)
        sys.exit(1)


def resolved(cfg: DictConfig, hc: Any, multirun: bool) -> dict[str, Any]:
    """The job's config, its paths resolved once against the folder asc was started from (or ``paths.root``),
    whatever ``hydra.job.chdir`` did: the job runs in the start folder, so a user's relative file names
    (``train.init_from``, ``dataset.root``) mean what they meant on the command line too."""
    from asc.app.invocation import refuse_inside_run_folder, resolve_paths

    start = hc.runtime.cwd
    os.chdir(start)  # hydra.job.chdir=true moved into the run folder
    paths = resolve_paths(OmegaConf.to_container(cfg.paths, resolve=True), start)
    with open_dict(cfg):
        cfg.paths = paths  # before resolving the rest: ${paths.data}/... follows
    refuse_inside_run_folder(
        paths, hc.runtime.output_dir, start, "hydra.sweep.dir" if multirun else "hydra.run.dir"
    )
    return OmegaConf.to_container(cfg, resolve=True)


def _start(config: DictConfig) -> str:
    """The folder asc was started from, as the sweep's config says (the callbacks run there)."""
    return str(OmegaConf.select(config, "hydra.runtime.cwd", default=None) or os.getcwd())


class ReportAfterMultirun(Callback):
    """A multirun's jobs skip the report; it is written once, here, after the last job. The experiment
    tracker's store (asc/report/tracking.py) is created here before the first job, so parallel jobs never race to."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from asc.app.sweep import check_sweep

        # every job's combination composed, validated and planned before the first starts (asc/app/sweep.py)
        task = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
        sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
        from pathlib import Path

        from asc.app.invocation import hydra_error_line

        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        try:  # the sweep folder first, as a single run's folder is made before its job plans
            if sweep_dir is not None:
                Path(_start(config), str(sweep_dir)).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"asc: error: {hydra_error_line(err, sys.argv)}", file=sys.stderr)
            sys.exit(1)
        try:
            check_sweep(task, sweeper, check_recipe_choices, _start(config))
        except InputError as err:  # Hydra turns a callback's exception into a warning: stop here, in one line
            _fail(err)
            sys.exit(1)
        if config.get("dry_run") or config.get("report_only") or "tracking" not in config:
            return
        from asc.app.invocation import resolve_paths
        from asc.core.errors import ConfigError
        from asc.report.tracking import check, prepare

        plain = {key: OmegaConf.to_container(config[key], resolve=True) for key in ("tracking", "paths")}
        plain["paths"] = resolve_paths(plain["paths"], _start(config))  # as each job's (paths.root)
        try:
            check(plain)
        except ConfigError:
            return  # every job refuses it at planning, in one line
        prepare(plain)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("dry_run") or config.get("stage") != "report":
            return
        from asc.app.invocation import resolve_paths
        from asc.pipeline.stages import report

        paths = OmegaConf.to_container(config.paths, resolve=True)
        results = resolve_paths(paths, _start(config))["results"]
        latency = OmegaConf.to_container(config.runtime.latency, resolve=True)
        node = OmegaConf.select(config, "runtime.figures")  # removed or null: the defaults
        figures = None if node is None else OmegaConf.to_container(node, resolve=True)
        report.write(results, latency, figures=figures)  # every job's models measured side by side, once
        print("\n" + report.summary(results) + "\n")


if __name__ == "__main__":
    main()
