"""Stage ``report``: tables and figures from the results table alone (it never trains or reads a model).

It has no artifact: it is rewritten from the whole results table every time, so one report covers every job
that wrote into ``paths.results``. A multirun's jobs leave it to the end of the sweep (asc/app/cli.py).
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
) -> None:
    """Every table and figure of the results table in ``results_dir``, written beside it; ``latency``: the
    ``runtime.latency`` options to measure every architecture side by side now, or None to reuse what was;
    ``figures``: the ``runtime.figures`` options (formats, dpi; None: the defaults)."""
    from asc.core.disk import explain_full_disk
    from asc.report import write as report
    from asc.report.figure_output import from_config

    with explain_full_disk(results_dir, "the report's tables and figures", REPORT_BYTES):
        report.write_report(
            Path(results_dir) / "results.csv",
            Path(results_dir),
            latency=latency,
            figures=from_config(figures),
        )


def run(steps: Sequence[Step], ctx: Context) -> None:
    if ctx.write_report:
        write(ctx.results, ctx.runtime["latency"], figures=ctx.runtime.get("figures"))
