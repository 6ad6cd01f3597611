"""Report: tables (CSV + Markdown + LaTeX), figures and ``latency.csv``, all views of the results table.

``write_report`` reads only the results table and never trains: whatever the table holds is reported, and a
table or figure whose rows are missing is skipped with a warning naming the experiment that produces them.
Latency is the one thing measured here: all architectures of the table side by side, in one session
(:mod:`asc.deploy.latency`), so that their medians compare; the result is ``latency.csv`` next to the tables, reused
while it covers every architecture. The tables are built in ``asc.report.tables`` and written by
``asc.report.table_writers``; the figures are ``asc.report.figures``. ``report.json`` records what the report was
drawn from and the files it wrote: a report drawn from the same inputs is not written again
(asc/report/report_record.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from asc.core.atomic import atomic_write_json, atomic_write_text
from asc.deploy import latency as lat
from asc.report import figures, report_record
from asc.report.cost_points import NOISE_NOTE, join_latency
from asc.report.figure_output import FigureOutput, current, writing
from asc.report.figures.curves import history_files
from asc.report.networks import NETWORK, folder_name, several_networks, with_network_labels
from asc.report.queries import MissingResultsError, for_dataset, with_ratio_labels
from asc.report.results import load
from asc.report.table_writers import to_markdown, write_table
from asc.report.tables import TABLES, summary_table
from asc.report.tables_devices import per_device_table

__all__ = [
    "LATENCY_FILE",
    "is_current",
    "measured_latency",
    "summary_markdown",
    "update_report",
    "write_report",
]

log = logging.getLogger(__name__)

LATENCY_FILE = "latency.csv"


def summary_markdown(df: pd.DataFrame) -> str:
    """The summary table as Markdown, ready to print at the end of a run (a note if there are no rows yet)."""
    if df.empty:
        return "_No results yet: run `asc experiment=demo` or `asc` to fill the results table._\n"
    return to_markdown(summary_table(with_ratio_labels(with_network_labels(df))))


def _read_latency(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        log.warning("latency: %s cannot be read (%s); it is ignored (delete it to measure again)", path, err)
        return None
    missing = sorted(set(lat.COLUMNS) - set(table.columns))
    if missing:
        log.warning(
            "latency: %s lacks the columns %s; it is ignored (delete it to measure again)", path, missing
        )
        return None
    return table


def _covers(table: pd.DataFrame, specs: Mapping[str, str], options: Mapping[str, Any]) -> bool:
    """Whether ``table`` (one earlier session) has every architecture × backend × batch asked for, here."""
    if set(table["machine"]) != {lat.machine_label()}:
        return False
    have = set(
        zip(table["model_spec"].map(lat.canonical_spec), table["backend"], table["batch"], strict=True)
    )
    backends = options.get("backends") or lat.available_backends()
    want = {(s, b, int(n)) for s in specs for b in backends for n in options["batch_sizes"]}
    return want <= have


def _asked(options: Mapping[str, Any] | None) -> bool:
    """Whether ``options`` (``runtime.latency``; None: none) ask for latency; ConfigError if they cannot work."""
    if options is None or not options.get("measure", True):
        return False
    lat.check_latency_options(options)
    return True


def _specs(df: pd.DataFrame) -> dict[str, str]:
    return lat.specs_of(df["model_spec"]) if "model_spec" in df else {}


def _must_measure(df: pd.DataFrame, out_dir: Path, options: Mapping[str, Any] | None) -> bool:
    """Whether :func:`measured_latency` would measure now: ``options`` ask for latency and ``out_dir/latency.csv``
    lacks one of ``df``'s architectures, a backend or a batch size on this machine. ConfigError as it."""
    if not _asked(options) or not (specs := _specs(df)):
        return False
    existing = _read_latency(Path(out_dir) / LATENCY_FILE)
    return existing is None or not _covers(existing, specs, options)


def measured_latency(
    df: pd.DataFrame, out_dir: Path, options: Mapping[str, Any] | None
) -> pd.DataFrame | None:
    """The latency table for ``df``'s architectures (``model_spec``): with ``options`` (``runtime.latency``)
    and ``measure`` true, measured side by side in one session and written to ``out_dir/latency.csv`` (with
    ``machine.json``), unless that file already covers every architecture, backend and batch size on this
    machine; without, the existing ``latency.csv`` or None. Rows without a ``model_spec`` (tables written before
    it existed) are not measured (logged). Raises :class:`asc.core.errors.ConfigError` for options that cannot work."""
    path = Path(out_dir) / LATENCY_FILE
    existing = _read_latency(path)
    if not _asked(options):
        return existing
    specs = _specs(df)
    if not specs:
        log.info(
            "latency: the results rows carry no model_spec (a table from before it existed); not measured"
        )
        return existing
    if existing is not None and _covers(existing, specs, options):
        log.info("latency: %s covers all %d architectures on this machine; reused", path, len(specs))
        return existing
    log.info("latency: measuring %d architectures side by side", len(specs))
    table = lat.measure(
        specs,
        backends=options.get("backends"),
        batch_sizes=[int(b) for b in options["batch_sizes"]],
        repeats=int(options["repeats"]),
        budget_s=float(options["budget_s"]),
    )
    atomic_write_text(path, table.to_csv(index=False))
    atomic_write_json(path.with_name("machine.json"), lat.machine_info())
    return table


def _sensitivity(rows: pd.DataFrame, where: Path, prefix: str) -> dict[str, list[Path]]:
    """The sensitivity table and figure (asc/report/tables_sensitivity.py, asc/report/figures/sensitivity.py), written only
    where ``rows`` (one dataset's) hold a scan: without one nothing is written nor warned, so the reports of
    other jobs are what they were."""
    from asc.report.figures.sensitivity import sensitivity_figure
    from asc.report.tables_sensitivity import STEM, sensitivity_table

    try:
        table = sensitivity_table(rows)
    except MissingResultsError:
        return {}
    drawn = sensitivity_figure(rows, where / STEM) if current().formats else []  # [] formats: tables alone
    return {prefix + STEM: write_table(table, where / STEM) + drawn}


def write_report(
    results_path: Path,
    out_dir: Path,
    *,
    latency: Mapping[str, Any] | None = None,
    figures: FigureOutput | None = None,
) -> dict[str, list[Path]]:
    """Write every table and figure the results table has data for; returns {name: written paths}.

    ``figures``: the figures' formats and PNG resolution (``runtime.figures``; None: PNG at 300 dpi and PDF).

    ``latency``: the ``runtime.latency`` options (measure, backends, batch_sizes, repeats, budget_s) to measure
    the architectures' latency now (see :func:`measured_latency`); None measures nothing and uses an existing
    ``out_dir/latency.csv`` if there is one (``report_only=true`` reruns). With several datasets in one table,
    the per-dataset tables and figures go to ``out_dir/<dataset>/`` and their names are prefixed ``<dataset>/``;
    the summary table and ``latency.csv`` cover all datasets. With several networks on one dataset
    (asc/report/networks.py), each network's tables and figures go to ``<network>/`` below it (prefixed
    ``<network>/``), and the cost table and figure there span the networks; the summary has a ``network`` column.

    A report that is up to date (``out_dir/report.json``, asc/report/report_record.py: drawn from the same
    inputs, every file there with its size, no latency to measure) is not written again: its files are returned.
    """
    return update_report(results_path, out_dir, latency=latency, figures=figures)[0]


def update_report(
    results_path: Path,
    out_dir: Path,
    *,
    latency: Mapping[str, Any] | None = None,
    figures: FigureOutput | None = None,
) -> tuple[dict[str, list[Path]], bool]:
    """:func:`write_report`, and whether it wrote the report: ({name: its files}, False) when it was up to date."""
    output, out_dir = figures or FigureOutput(), Path(out_dir)
    files, before, df = _up_to_date(Path(results_path), out_dir, latency, output)
    if files is not None:
        log.info("report (tables and figures): up to date in %s, nothing to do", out_dir)
        return files, False
    report_record.forget(out_dir)  # a report killed from here on has no record: the next run writes it
    with writing(output):
        written = _write_report(df, results_path, out_dir, latency)
    after = _drawn_from(results_path, out_dir, df, output)  # latency.csv as measured now
    if written and after["results"] == before["results"]:  # rows appended meanwhile: not what was drawn
        report_record.keep(out_dir, after, written)
    return written, True


def is_current(
    results_path: Path,
    out_dir: Path,
    *,
    latency: Mapping[str, Any] | None = None,
    figures: FigureOutput | None = None,
) -> bool:
    """Whether :func:`update_report` with these arguments would write nothing now (its report is up to date)."""
    return _up_to_date(Path(results_path), Path(out_dir), latency, figures or FigureOutput())[0] is not None


def _up_to_date(
    results_path: Path, out_dir: Path, latency: Mapping[str, Any] | None, output: FigureOutput
) -> tuple[dict[str, list[Path]] | None, dict[str, Any], pd.DataFrame]:
    """(the report's files if it is up to date, else None; what it is drawn from now; the rows it draws)."""
    df = with_ratio_labels(with_network_labels(load(results_path)))  # a `network` column; a line per ratio
    df = df if df.empty else lat.without_unknown_widths(df)
    inputs = _drawn_from(results_path, out_dir, df, output)
    files = None if _must_measure(df, out_dir, latency) else report_record.current(out_dir, inputs)
    return files, inputs, df


def _drawn_from(results_path: Path, out_dir: Path, df: pd.DataFrame, output: FigureOutput) -> dict[str, Any]:
    return report_record.drawn_from(results_path, out_dir / LATENCY_FILE, history_files(df), output)


def _write_report(
    df: pd.DataFrame, results_path: Path, out_dir: Path, latency: Mapping[str, Any] | None
) -> dict[str, list[Path]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if df.empty:
        log.warning("results table %s has no rows; nothing to report", results_path)
        return written
    latency_table = measured_latency(df, out_dir, latency)
    if latency_table is not None:
        written["latency"] = [out_dir / LATENCY_FILE]
    df = join_latency(df, latency_table)
    written["summary"] = write_table(summary_table(df), out_dir / "summary")
    datasets = sorted(set(df["dataset"]))
    for dataset in datasets:
        every = for_dataset(df, dataset)
        where, prefix = (out_dir, "") if len(datasets) == 1 else (out_dir / dataset, f"{dataset}/")
        if not several_networks(every):
            written.update(_views(every, where, prefix))
            continue
        # Several networks on one dataset: each network's views in a folder of its own, never pooled; the cost
        # table and figure span them (one Pareto front across the families).
        sub = every[every["stage"] != "per_device"]
        written.update(_views(sub, where, prefix, tables=["cost"], drawn=["cost_pareto"], scans=False))
        for network in dict.fromkeys(every[NETWORK]):
            name = folder_name(network)
            mine = every[every[NETWORK] == network]
            written.update(_views(mine, where / name, f"{prefix}{name}/"))
    log.info("report: wrote %d item(s) to %s", len(written), out_dir)
    return written


def _views(
    every: pd.DataFrame,
    where: Path,
    prefix: str,
    *,
    tables: list[str] | None = None,
    drawn: list[str] | None = None,
    scans: bool = True,
) -> dict[str, list[Path]]:
    """The per-dataset tables (``tables``: names of TABLES; None: all, and the per-device table), figures
    (``drawn``: names of FIGURES; None: all) and, with ``scans``, the sensitivity table and figure of
    ``every`` (one dataset's rows) in ``where``, their names prefixed ``prefix``; {name: written paths}."""
    written: dict[str, list[Path]] = {}
    where.mkdir(parents=True, exist_ok=True)
    sub = every[every["stage"] != "per_device"]  # routed sets of models: their own table only
    if tables is None and (every["stage"] == "per_device").any():
        written[prefix + "per_device"] = write_table(per_device_table(every), where / "per_device")
    for name, build in TABLES.items():
        if tables is not None and name not in tables:
            continue
        try:
            table = build(sub)
        except MissingResultsError as err:
            log.warning("skipping %s%s: %s", prefix, name, err)
            continue
        written[prefix + name] = write_table(table, where / name)
        for note in table.attrs.get("notes", []):
            if note.startswith(NOISE_NOTE):
                log.warning("%s%s: %s", prefix, name, note)
    for name, draw in figures.FIGURES.items() if current().formats else ():  # formats []: the tables alone
        if drawn is not None and name not in drawn:
            continue
        try:
            written[prefix + name] = draw(sub, where / name)
        except MissingResultsError as err:
            log.warning("skipping %s%s: %s", prefix, name, err)
    if scans:
        written.update(_sensitivity(sub, where, prefix))
    return written
