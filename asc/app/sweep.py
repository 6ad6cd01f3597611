"""A multirun checked whole before its first job: every combination of the sweep (``asc -m prune=cosine,l1
prune.ratio=0.3``) is composed and planned as its job will be — Hydra's composition, the recipe choices,
:func:`asc.pipeline.validate.validate`, :func:`asc.pipeline.config_effects.check_effects`, the plan and every stage's check — and
the first bad combination stops the sweep in one line naming the job, its swept values and the bad value, before
any job starts (Hydra alone would run the good jobs first and meet the bad one mid-sweep).

Only Hydra's basic sweeper's grids are expanded (``BasicSweeper.split_arguments``: discrete sweeps ``a,b``,
``choice``, ``range``, ``glob``); another sweeper (e.g. Optuna) draws its jobs as it goes and is left to check
each job itself. Planning only: torch is not imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from asc.core.errors import ConfigError, InputError

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def jobs(task_overrides: Sequence[str]) -> list[list[str]]:
    """Every job's overrides of a multirun's task overrides (``hydra.overrides.task``), in Hydra's order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def swept(task_overrides: Sequence[str], job: Sequence[str]) -> str:
    """The job's values of the swept keys (``prune=l1 prune.ratio=0.3``): what tells it from the others."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    keys = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    shown = [o.split("=", 1) for o in job]
    return " ".join(f"{k.lstrip('+')}={v}" for k, v in shown if k in keys)


def check_job(overrides: Sequence[str], start: str, check_choices: Callable[[Any], None]) -> None:
    """Compose and plan one job of the sweep (Hydra's global state initialised, as inside ``asc``'s main) from
    the folder ``start``, its group choices checked by ``check_choices`` (asc.app.cli.check_recipe_choices); raises
    InputError (ConfigError) as the job would, before it is launched."""
    from hydra import compose
    from omegaconf import OmegaConf, open_dict

    from asc.app.invocation import hydra_error_line, resolve_paths

    try:
        cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    except Exception as err:  # Hydra's composition: an unknown option of a group, a malformed value
        line = hydra_error_line(err, list(overrides))
        if line is None:
            raise
        raise ConfigError(line) from None
    check_choices(cfg.hydra.runtime.choices)
    choice = cfg.hydra.runtime.choices.get("prune")
    with open_dict(cfg):
        cfg.paths = resolve_paths(OmegaConf.to_container(cfg.paths, resolve=True), start)
        del cfg["hydra"]
    plain = OmegaConf.to_container(cfg, resolve=True)
    from asc.pipeline.cross_validation import plan_folds

    # a job's folds (dataset.fold=[...]) each planned, as the job will (asc/app/cli.py)
    plan_folds(plain, lambda job: plan_job(job, prune_choice=choice, overrides=list(overrides)))


def plan_job(
    plain: dict[str, Any], *, prune_choice: str | None, overrides: list[str]
) -> tuple[list[Any], Any, Any] | None:
    """A resolved job config checked and planned: values, effects, plan and every stage's check. Returns
    (steps, unseen, needs) as :func:`asc.pipeline.plan.check_plan` does, or None for ``report_only`` (nothing planned)."""
    from asc.pipeline.config_effects import check_effects
    from asc.pipeline.plan import check_plan, make_plan
    from asc.pipeline.validate import validate

    validate(plain)  # every value, before any work
    check_effects(plain, prune_choice=prune_choice, overrides=overrides)  # every value given has an effect
    if plain["report_only"]:
        return None
    steps = make_plan(plain)
    unseen, needs = check_plan(steps, plain, upto=plain["stage"])  # every input, the disks: before any build
    return steps, unseen, needs


def check_sweep(
    task_overrides: Sequence[str],
    sweeper: str,
    check_choices: Callable[[Any], None],
    start: str | None = None,
) -> int:
    """Every job of the sweep checked before the first starts (:func:`check_job`); returns how many. Raises
    InputError for the first bad one: ``sweep job 2 of 4 (prune=cosine prune.ratio=0.3): <the job's error>``.
    A sweeper other than Hydra's basic one is not expanded (0 returned)."""
    if sweeper != BASIC_SWEEPER:
        return 0
    start = start or os.getcwd()
    all_jobs = jobs(task_overrides)
    for n, job in enumerate(all_jobs, 1):
        try:
            check_job(job, start, check_choices)
        except InputError as err:
            which = swept(task_overrides, job)
            raise type(err)(f"sweep job {n} of {len(all_jobs)} ({which}): {err}") from None
    return len(all_jobs)
