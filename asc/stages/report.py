"""Stage ``report``: tables and figures from the results table alone (it never trains or reads a model).

It has no artifact: it is rewritten from the whole results table every time, so one report covers every job
that wrote into ``paths.results``. A multirun's jobs leave it to the end of the sweep (asc/cli.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.disk import Need
from asc.step import Step, make_step

if TYPE_CHECKING:
    from asc.context import Context


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    models = tuple(up["train"] + up["prune"] + up["finetune"] + up["perdevice"])
    return [make_step("report", "tables and figures", {"results": "all rows"}, models)]


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    return []


def summary(results_dir: str | Path, dataset: str | None = None) -> str:
    """The summary table (Markdown) of the results table in ``results_dir``."""
    from asc import report, results

    path = Path(results_dir) / "results.csv"
    return report.summary_markdown(results.for_dataset(results.load(path), dataset))


def write(results_dir: str | Path) -> None:
    """Every table and figure of the results table in ``results_dir``, written beside it."""
    from asc import report
    from asc.atomic import atomic_write_json
    from asc.cost import machine_info

    report.write_report(Path(results_dir) / "results.csv", Path(results_dir))
    atomic_write_json(Path(results_dir) / "machine.json", machine_info())  # where latencies were measured


def run(steps: Sequence[Step], ctx: Context) -> None:
    if ctx.write_report:
        write(ctx.results)
