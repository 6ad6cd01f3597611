"""k-fold cross-validation as one job: ``dataset.fold=[1,2,3,4,5]`` (ESC-50's five folds, asc/data/esc50.py).

A list of folds makes the job a set of fold jobs, each the same config with ``dataset.fold`` one of them (an int:
the single-fold job of before, with its keys, so a fold trained alone and in a cross-validation is one artifact).
Every fold job is checked and planned before any is built (:func:`plan_folds`); they run one after the other and
the report is written once, after the last. Each results row carries its ``fold`` (asc/pipeline/context.py), part of the
pooling key (asc.report.rows.pooling_key), so folds are never pooled as repeats; the tables show the mean ± std over
folds (asc.report.queries.fold_means) and paired comparisons pair within folds (asc.report.compare.PAIR).

Torch-free; errors are :class:`asc.core.errors.ConfigError`, one line each.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from asc.core.errors import ConfigError, InputError


def folds_of(d: Mapping[str, Any]) -> list[int] | None:
    """The test folds of a cross-validation (``dataset.fold`` given as a list), None for one fold (an int) or a
    dataset without folds. Raises ConfigError, in one line, for an empty list, a value that is not a whole
    number or a fold given twice; the range of each is the dataset's own check (asc.data.esc50.check_fold)."""
    folds = d.get("fold")
    if not isinstance(folds, list | tuple):
        return None
    shown = f"dataset.fold={list(folds)!r}"
    if not folds:
        raise ConfigError(
            f"{shown} names no fold; give one (dataset.fold=1) or several (dataset.fold=[1,2,3,4,5])"
        )
    bad = [f for f in folds if isinstance(f, bool) or not isinstance(f, int)]
    if bad:
        raise ConfigError(
            f"{shown}: {bad[0]!r} is not a fold number; give whole numbers, e.g. dataset.fold=[1,2,3,4,5]"
        )
    twice = sorted({f for f in folds if list(folds).count(f) > 1})
    if twice:
        raise ConfigError(
            f"{shown} names fold {twice[0]} twice; give each fold once, e.g. dataset.fold=[1,2,3,4,5]"
        )
    return list(folds)


def fold_configs(plain: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One resolved config per fold job: ``plain`` itself for one fold, else a copy per fold with ``dataset.fold``
    that fold (in the order given)."""
    folds = folds_of(plain["dataset"])
    if folds is None:
        return [dict(plain)]
    out = []
    for fold in folds:
        job = copy.deepcopy(dict(plain))
        job["dataset"]["fold"] = fold
        out.append(job)
    return out


def plan_folds(
    plain: Mapping[str, Any],
    plan: Callable[[dict[str, Any]], Any],
) -> list[tuple[dict[str, Any], Any]]:
    """Every fold job's (config, ``plan(config)``), all planned before any is built; an error of one fold's plan
    names the fold: ``fold 3 of [1, 2, 3, 4, 5]: <its error>`` (the same class, one line)."""
    configs = fold_configs(plain)
    folds = folds_of(plain["dataset"])
    out: list[tuple[dict[str, Any], Any]] = []
    for job in configs:
        try:
            out.append((job, plan(job)))
        except InputError as err:
            if folds is None:
                raise
            line = f"fold {job['dataset']['fold']} of {folds}: {err}"
            try:
                named = type(err)(line)
            except TypeError:  # an error class with its own arguments: its message as an InputError
                named = ConfigError(line) if isinstance(err, ConfigError) else InputError(line)
            raise named from None
    if folds is not None:
        check_fold_disks(folds, [planned for _, planned in out])
    return out


def check_fold_disks(folds: list[int], planned: list[Any]) -> None:
    """The fold jobs run one after the other and keep what they write: their disk needs added up (each fold's
    own plan was checked alone), what the folds share counted once: an artifact of one key (the features of a
    set not keyed by its fold), and a dataset's download, which every fold's dataset step (keyed by its fold)
    fetches into the same folder. Raises asc.core.disk.DiskSpaceError in one line naming the folds.
    ``planned``: each fold's (steps, unseen, needs), or None (``report_only``)."""
    from asc.core.disk import DiskSpaceError, check_disk

    needs: dict[Any, Any] = {}
    for plan in planned:
        for need in plan[2] if plan else ():
            shared = need.artifact.startswith("dataset/") or not need.artifact
            needs.setdefault(
                (need.path, need.what, need.bytes) if shared else (need.artifact, need.what), need
            )
    try:
        check_disk(list(needs.values()))
    except DiskSpaceError as err:
        raise DiskSpaceError(f"the folds {folds} together: {err}") from None
