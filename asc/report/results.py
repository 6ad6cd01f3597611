"""The results store: one tidy long CSV table, one row per evaluated model.

Every table and figure in the report is a view of this table, so it is the only thing the report reads.
Rows are keyed by ``run_id``: appending a row whose ``run_id`` is already present replaces the old row, which
makes re-running a stage idempotent. Appends from parallel processes (Hydra multiruns, Slurm arrays) are
serialised with a lock file (:mod:`asc.core.locks`) and published with ``os.replace`` so a reader never sees a
half-written file.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_write_text, sweep_stale_temps
from asc.core.disk import explain_full_disk
from asc.core.locks import hold
from asc.core.provenance import COLUMNS as PROVENANCE
from asc.report.queries import is_missing
from asc.report.results_check import check_results_table

log = logging.getLogger(__name__)

COLUMNS: list[str] = [
    "run_id",
    "stage",
    "dataset",
    "criterion",
    "layers",
    "fraction",
    "split",
    "repeat",
    "seed",
    "baseline_seed",
    "finetuned",
    "accuracy",
    "class_avg_accuracy",
    "log_loss",
    "params_torch",
    "params_keras",
    "macs",
    "macs_paper",
    "params_reduction_pct",
    "macs_reduction_pct",
    "macs_paper_reduction_pct",
    "frontend_macs",  # the mel front end's MACs per clip (STFT + mel projection; asc.nets.cost.front_end_macs)
    # Parameter memory at three precisions and the DCASE 2021 128 KB check (asc.report.cost.memory_columns); latency
    # is measured by the report, all architectures side by side (asc.deploy.latency), never stored in a row.
    "mem_fp32_kb",
    "mem_fp16_kb",
    "mem_int8_kb",
    "dcase_fit_bits",
    "kept",
    "train_time_s",
    "epochs",
    "select_on",
    "checkpoint",
    "closest_distance",
    "l1_norms",
    "kept_indices",
    "model_spec",
    # What built the row (asc/core/provenance.py); empty in tables written before they were recorded.
    *PROVENANCE,
]
STAGES = ("baseline", "prune", "finetune", "per_device")
DEVICE_PREFIX = "acc_"  # per-device accuracy columns are dynamic: acc_a, acc_b, acc_s1, ...

STR_COLUMNS = [
    "run_id",
    "split",
    "stage",
    "dataset",
    "criterion",
    "layers",
    "kept",
    "select_on",
    "checkpoint",
    "closest_distance",
    "l1_norms",
    "kept_indices",
    "model_spec",
    *(c for c in PROVENANCE if c != "git_dirty"),
]
BOOL_OR_MISSING = ["git_dirty"]  # True, False or unknown (pandas' nullable boolean)
INT_COLUMNS = [
    "repeat",
    "seed",
    "epochs",
    "params_torch",
    "params_keras",
    "macs",
    "macs_paper",
    "frontend_macs",
    "dcase_fit_bits",
]
PRODUCER_HINT = (
    "run `asc experiment=demo` (the demo, what `asc` runs) or `asc experiment=paper` (the paper's, on TAU) to "
    "produce it"
)


def device_columns(df: pd.DataFrame) -> list[str]:
    """The per-device accuracy columns present in ``df`` (``acc_<device>``), in table order."""
    return [c for c in df.columns if c.startswith(DEVICE_PREFIX)]


def _ordered_columns(columns: Iterable[str]) -> list[str]:
    """Fixed columns first, then per-device accuracies, then anything else the pipeline added."""
    cols = list(dict.fromkeys(columns))
    devices = sorted(c for c in cols if c.startswith(DEVICE_PREFIX))
    extra = [c for c in cols if c not in COLUMNS and c not in devices]
    return COLUMNS + devices + extra


def _to_str(value: Any) -> str:
    return "" if is_missing(value) else str(value)


def _to_bool_or_na(value: Any) -> Any:
    return pd.NA if is_missing(value) or value == "" else _to_bool(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return False if is_missing(value) else bool(value)


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Give a raw table (from CSV or from dicts) the documented dtypes and all ``COLUMNS``.

    CSV loses types (an empty ``layers`` reads as NaN, ``finetuned`` as text), so every consumer goes through
    here. Integer columns stay int64 unless some value is missing, in which case they are float64 (NaN).
    """
    out = df.copy()
    for col in COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    out = out[_ordered_columns(out.columns)]
    for col in STR_COLUMNS:
        # astype(object) keeps the dtype text even for an empty table, so `.str` works downstream.
        out[col] = out[col].astype(object).map(_to_str).astype(object)
    out["finetuned"] = out["finetuned"].map(_to_bool).astype(bool)
    for col in BOOL_OR_MISSING:
        out[col] = out[col].astype(object).map(_to_bool_or_na).astype("boolean")
    numeric = [c for c in out.columns if c not in STR_COLUMNS + BOOL_OR_MISSING and c != "finetuned"]
    for col in numeric:
        if col in COLUMNS or col.startswith(DEVICE_PREFIX):
            out[col] = pd.to_numeric(out[col], errors="coerce")
        else:  # an extra column added by the pipeline: numeric if it parses, text otherwise
            try:
                out[col] = pd.to_numeric(out[col])
            except (ValueError, TypeError):
                pass
    for col in INT_COLUMNS:
        if out[col].notna().all():
            out[col] = out[col].astype("int64")
    return out.reset_index(drop=True)


def _validate(rows: list[dict]) -> None:
    for i, row in enumerate(rows):
        run_id = row.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"results row {i} has no run_id (got {run_id!r}); every row needs a unique key")
        if row.get("stage") not in STAGES:
            raise ValueError(
                f"results row {run_id!r} has stage {row.get('stage')!r}; expected one of {STAGES}"
            )


def append(path: Path, rows: list[dict], timeout_s: float = 600.0) -> None:
    """Append ``rows`` to the CSV at ``path``; a row whose ``run_id`` exists replaces the old row.

    Safe under parallel processes: the read-modify-write happens under ``<path>.lock`` and the new table is
    written to a temporary file in the same directory, then moved over the old one atomically. Temp files that
    killed writers left in that directory are removed first.
    """
    if not rows:
        return
    _validate(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(rows)
    # Within one call the last row for a run_id wins, like a sequence of single appends would.
    new = new.drop_duplicates("run_id", keep="last")
    # A row's text is fixed by the rows of its own call, never by the table it joins (an int column the table
    # lacks would print as 14005.0 there): appending the same rows again writes the same bytes, which the
    # report's record compares (asc/report/report_record.py).
    new = pd.read_csv(io.StringIO(new.to_csv(index=False)), dtype=str, keep_default_na=False)
    with hold(f"{path}.lock", timeout_s=timeout_s, what=f"results table {path.name}"):
        sweep_stale_temps(path.parent)
        if path.exists():
            check_results_table(path)
            # Read as text so rows written earlier are copied byte-for-byte, never re-parsed and re-printed.
            old = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            old = old[~old["run_id"].isin(set(new["run_id"]))]
            table = pd.concat([old, new], ignore_index=True)
        else:
            table = new
        table = table.reindex(columns=_ordered_columns(table.columns))
        with explain_full_disk(path.parent, f"the results table {path.name}"):
            atomic_write_text(path, table.to_csv(index=False))
    log.debug("results: wrote %d row(s) to %s", len(new), path)


def load(path: Path) -> pd.DataFrame:
    """Read the results table with the documented dtypes (see :func:`normalize`); a table that cannot be read
    raises :class:`asc.report.results_check.ResultsTableError` naming the file and line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results table {path} does not exist; {PRODUCER_HINT}")
    check_results_table(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    return normalize(raw)
