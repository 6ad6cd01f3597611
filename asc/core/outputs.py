"""Files a command writes where the user said: never over a file it was given to read, never over an existing
file it did not create unless told (``--force``). Checked before anything is read or written; one line each.

Used by ``asc-export`` (``asc-export m.h5 m.h5`` replaced the user's Keras model with the ONNX file) and the
GPU check's ``--out`` folder; the pipeline's own folders are checked in asc/pipeline/plan.py and asc/pipeline/stages/report.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from asc.core.errors import InputError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(out: str | Path, *, inputs: Iterable[str | Path] = (), force: bool = False) -> None:
    """Refuse to write ``out`` when it is one of ``inputs`` (even with ``force``: the input would be gone before
    the output is checked), a folder, or an existing file (unless ``force``). InputError naming it and the fix."""
    out = Path(out)
    for given in map(Path, inputs):
        if _same(out, given) or out.resolve() == given.resolve():
            raise InputError(
                f"{out} is the input {given}: writing it would replace the file being read; give the output "
                "another name"
            )
    if out.is_dir():
        raise InputError(f"{out} is a folder; give the file to write, e.g. {out / 'model.onnx'}")
    if out.exists() and not force:
        raise InputError(f"{out} exists; give another name, or --force to replace it")


def check_folder_outputs(folder: str | Path, names: Iterable[str], *, force: bool = False) -> None:
    """Refuse to write ``names`` into ``folder`` where one of them already exists (unless ``force``)."""
    there = [n for n in names if (Path(folder) / n).exists()]
    if there and not force:
        raise InputError(
            f"{Path(folder) / there[0]} exists (from an earlier run?); give another folder, or --force to "
            "replace it"
        )


# What the report writes into paths.results (<stem>.csv/.md/.tex tables, <stem>.png/.pdf figures): the tables of
# asc/report/tables.py, asc/report/tables_devices.py and asc/report/tables_sensitivity.py, the figures of asc/report/figures/, latency.csv
# and machine.json of asc/report/write.py, report.json of asc/report/report_record.py. Declared here, without
# their modules (matplotlib), for planning; tests/test_outputs.py checks them against those modules.
REPORT_STEMS = (
    "summary",
    "table1",
    "criteria",
    "comparison",
    "cost",
    "per_device",
    "fig2_closest_distance",
    "fig3_layer_sets",
    "fig4_l1_norms",
    "fig5_cosine_vs_l1",
    "fig6_fractions",
    "cost_pareto",
    "training_curves",
    "sensitivity",  # asc/report/tables_sensitivity.py and asc/report/figures/sensitivity.py, only for a scan's rows
    "latency",
    "machine",
    "report",  # report.json: what the report was drawn from (asc/report/report_record.py)
)


def check_results_folder(results: str | Path) -> None:
    """A results folder without asc's results table holds nothing asc wrote: refuse when a file there has a name
    the report would write over (``paths.results=.`` beside a ``summary.md`` of the user's)."""
    folder = Path(results)
    if not folder.is_dir() or (folder / "results.csv").exists():
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.split(".")[0] in REPORT_STEMS:
            raise InputError(
                f"paths.results={results} holds {path.name}, which the report would replace, and no results.csv "
                "(so asc did not write it): give the job a results folder of its own (a new or empty one)"
            )
