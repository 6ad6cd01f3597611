"""Values that would do nothing: refused at planning, in one line naming the key and what to set instead.

A value the user gives must change what the job does; one that is read by nothing would still enter an artifact
key (a needless rebuild, rows that do not pool) while the run does what the defaults say. One module per job:

- criterion values shadowed by ``prune=<name>`` or ignored in the criterion's mode: asc/pipeline/effects_criteria.py;
- command-line overrides of what the job does not do or that its other options make moot (fine-tuning options
  without fine-tuning, the recipe and ``eval_precision`` of a baseline given by file, ``select_after`` where nothing
  is selected): asc/pipeline/effects_recipes.py;
- a key that only other dataset configs have (``dataset.content_hash`` on the demo, ``dataset.validation.seed``
  on FSD50K): asc/pipeline/effects_datasets.py.

The same kind is refused where the option is owned when only its owner knows it (QAT with an ``eval_precision``
other than fp32: asc/training/qat.py; a criterion option the criterion never reads: asc/prune/options.py).
Also here: :func:`without_ignored` (a criterion config as it keys its prune step) and :func:`meaningless`
(combinations that run but whose numbers mean nothing: warned, not refused). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.pipeline import effects_criteria, effects_datasets, effects_recipes
from asc.pipeline.effects_criteria import layers_of


def check_effects(
    cfg: Mapping[str, Any], *, prune_choice: str | None = None, overrides: Sequence[str] = ()
) -> None:
    """Raise :class:`asc.core.errors.ConfigError` for the first given value that the job would not read (module
    docstring). ``prune_choice``: the ``prune=<file>`` the command line chose, to name it (None: the criterion's
    name); ``overrides``: the job's command-line overrides (Hydra's task overrides), for what they touch that the
    job does not do (fine-tuning options without fine-tuning, the model of a baseline given by file)."""
    effects_datasets.check(cfg["dataset"])
    effects_recipes.check(cfg, overrides)
    effects_criteria.check(cfg, prune_choice)


def without_ignored(p: Mapping[str, Any]) -> dict[str, Any]:
    """A criterion config as it keys its prune step: ``ratio`` dropped once ``per_layer_ratio`` covers every
    pruned layer, ``match`` once every pruned layer has a ratio (what the criterion reads is unchanged, so
    ``prune.ratio=0.3`` with ``match`` left on and with ``match=null`` are one artifact). No config of asc's sets
    either, so no pinned key changes (tests/test_keys.py)."""
    out, layers = dict(p), set(layers_of(p["layers"]))
    if out.get("round_to_block", 0) is None:  # null: no rounding, as when absent (asc/prune/blocks.py)
        out.pop("round_to_block")
    if layers <= set(p.get("per_layer_ratio") or {}):
        out.pop("ratio", None)
    if out.get("ratio") is not None or layers <= set(p.get("per_layer_ratio") or {}):
        out.pop("match", None)
    return out


_WARNED: set[str] = set()  # one line per process, however many jobs of a sweep meet it


def meaningless(cfg: Mapping[str, Any], steps: Sequence[Any]) -> list[str]:
    """Combinations that run but whose numbers mean nothing, one line each: a given model evaluated on a
    generated set (trained on other data, its accuracy on synthetic clips says nothing), and a results folder
    that already holds rows of another dataset (the tables then put unrelated sets side by side)."""
    from pathlib import Path

    from asc.data.kinds import kind_of
    from asc.pipeline.stages.dataset import results_label
    from asc.report.rows import ROW_STAGE

    lines, d, t = [], cfg["dataset"], cfg["train"]
    if t.get("init_from") and kind_of(d).generated:
        lines.append(
            f"train.init_from={t['init_from']} is evaluated on dataset={d['name']}, a synthetic set: unless it was "
            "trained on that very set its numbers mean nothing (choose its own dataset, e.g. dataset=tau2020mobile)"
        )
    table = Path(cfg["paths"]["results"]) / "results.csv"
    if any(s.stage in ROW_STAGE for s in steps) and table.is_file():
        import pandas as pd

        try:
            labels = set(pd.read_csv(table, usecols=["dataset"], dtype=str)["dataset"].dropna())
        except (ValueError, OSError):
            labels = set()  # the results-table checks name what is wrong with it
        ours = results_label(cfg, steps)
        others = sorted(labels - {ours})
        if others:
            lines.append(
                f"paths.results={cfg['paths']['results']} already holds rows of {', '.join(others)}; this job adds "
                f"{ours}: give it a results folder of its own (e.g. paths.results={cfg['paths']['results']}_{ours})"
            )
    return lines


def warn_meaningless(cfg: Mapping[str, Any], steps: Sequence[Any]) -> None:
    """Log each line of :func:`meaningless` once (a warning: the job still runs)."""
    import logging

    for line in meaningless(cfg, steps):
        if line not in _WARNED:
            _WARNED.add(line)
            logging.getLogger("asc").warning(line)
