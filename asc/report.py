"""Report: tables (CSV + Markdown + LaTeX) and figures, all views of the results table.

``write_report`` reads only the results table and never trains: whatever the table holds is reported, and a
table or figure whose rows are missing is skipped with a warning naming the experiment that produces them.
The tables are built in ``asc.tables`` and written by ``asc.table_writers``; the figures are ``asc.figures``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from asc import figures
from asc.results import MissingResultsError, for_dataset, load
from asc.table_writers import to_markdown, write_table
from asc.tables import TABLES, summary_table

__all__ = ["summary_markdown", "write_report"]

log = logging.getLogger(__name__)


def summary_markdown(df: pd.DataFrame) -> str:
    """The summary table as Markdown, ready to print at the end of a run (a note if there are no rows yet)."""
    if df.empty:
        return "_No results yet: run `asc experiment=demo` or `asc` to fill the results table._\n"
    return to_markdown(summary_table(df))


def write_report(results_path: Path, out_dir: Path) -> dict[str, list[Path]]:
    """Write every table and figure the results table has data for; returns {name: written paths}.

    With several datasets in one table, the per-dataset tables and figures go to ``out_dir/<dataset>/`` and
    their names are prefixed ``<dataset>/``; the summary table always covers all datasets.
    """
    df = load(results_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if df.empty:
        log.warning("results table %s has no rows; nothing to report", results_path)
        return written
    written["summary"] = write_table(summary_table(df), out_dir / "summary")
    datasets = sorted(set(df["dataset"]))
    for dataset in datasets:
        sub = for_dataset(df, dataset)
        where, prefix = (out_dir, "") if len(datasets) == 1 else (out_dir / dataset, f"{dataset}/")
        for name, build in TABLES.items():
            try:
                written[prefix + name] = write_table(build(sub), where / name)
            except MissingResultsError as err:
                log.warning("skipping %s%s: %s", prefix, name, err)
        for name, draw in figures.FIGURES.items():
            try:
                written[prefix + name] = draw(sub, where / name)
            except MissingResultsError as err:
                log.warning("skipping %s%s: %s", prefix, name, err)
    log.info("report: wrote %d item(s) to %s", len(written), out_dir)
    return written
