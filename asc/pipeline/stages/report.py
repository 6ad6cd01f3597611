"""Stage ``report``: tables and figures from the results table alone (it never trains or reads a model).

It has no artifact in the store: it is drawn from the whole results table, so one report covers every job that wrote
into ``paths.results``. Beside it ``report.json`` records what it was drawn from (the results table's bytes, the
latency and training histories it read, the figure options, asc's code, the plotting libraries) and the files it
wrote (asc/report/report_record.py): a run that would draw the same report (a rerun with nothing new) writes
nothing and says the report is up to date; anything else (new rows, a figure deleted, other figure options, an
architecture whose latency is still to be measured, other code) writes it again. A multirun's jobs leave it to
the end of the sweep (asc/app/cli.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.pipeline.step import Step, make_step

if TYPE_CHECKING:
    from asc.pipeline.context import Context


REPORT_BYTES = 16 << 20  # tables and figures (PNG at 300 dpi and PDF) of a paper-sized report: a few MB


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    models = tuple(up["train"] + up["prune"] + up["finetune"] + up["perdevice"])
    return [make_step("report", "tables and figures", {"results": "all rows"}, models)]


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    """The latency options (an unknown backend, onnxruntime not installed, no CUDA) and the results rows' disk."""
    from asc.core.disk import results_bytes
    from asc.deploy.latency_options import check_latency_options

    check_latency_options(cfg["runtime"]["latency"])
    results = Path(cfg["paths"]["results"])
    return [
        (
            s,
            Need(
                results,
                results_bytes(len(s.upstream)) + REPORT_BYTES,
                "results rows",
                "point paths.results at a larger disk",
            ),
        )
        for s in steps
    ]


def summary(results_dir: str | Path, dataset: str | None = None) -> str:
    """The summary table (Markdown) of the results table in ``results_dir``."""
    from asc.report import queries, results
    from asc.report import write as report

    path = Path(results_dir) / "results.csv"
    return report.summary_markdown(queries.for_dataset(results.load(path), dataset))


def write(
    results_dir: str | Path, latency: Mapping[str, Any] | None, *, figures: Mapping[str, Any] | None
) -> bool:
    """Every table and figure of the results table in ``results_dir``, written beside it unless they are up to
    date (then one log line); returns whether they were written. ``latency``: the ``runtime.latency`` options to
    measure every architecture side by side now, or None to reuse what was; ``figures``: the ``runtime.figures``
    options (formats, dpi; None: the defaults)."""
    from asc.core.disk import explain_full_disk
    from asc.report import write as report
    from asc.report.figure_output import from_config

    with explain_full_disk(results_dir, "the report's tables and figures", REPORT_BYTES):
        return report.update_report(
            Path(results_dir) / "results.csv",
            Path(results_dir),
            latency=latency,
            figures=from_config(figures),
        )[1]


def current(steps: Sequence[Step], cfg: Mapping[str, Any]) -> bool:
    """Whether the report in ``paths.results`` is up to date with the results table as it is now (the job's start
    line counts it as cached when nothing else is to be built); False where the report would fail."""
    from asc.report import write as report
    from asc.report.figure_output import from_config

    results = Path(cfg["paths"]["results"])
    if not (results / "results.csv").is_file():
        return False
    figures = from_config(cfg["runtime"].get("figures"))
    try:
        return report.is_current(
            results / "results.csv", results, latency=cfg["runtime"]["latency"], figures=figures
        )
    except (OSError, ValueError):  # a table or options the report stage will refuse, in its own words
        return False


def run(steps: Sequence[Step], ctx: Context) -> None:
    if ctx.write_report:
        written = write(ctx.results, ctx.runtime["latency"], figures=ctx.runtime.get("figures"))
        if not written and ctx.progress is not None:
            for step in steps:
                ctx.progress.finished(step, "up to date:", timed=False)
