"""Stage ``report``: tables and figures from the results table alone (it never trains or reads an artifact)."""

from __future__ import annotations

from pathlib import Path

from asc import report, results


def build(results_dir: Path, dataset: str | None = None) -> str:
    """Write every table and figure into ``results_dir``; returns the summary table as Markdown."""
    path = Path(results_dir) / "results.csv"
    report.write_report(path, Path(results_dir))
    return report.summary_markdown(results.for_dataset(results.load(path), dataset))
