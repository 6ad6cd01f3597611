"""The results store: one tidy long CSV table, one row per evaluated model.

Every table and figure in the report is a view of this table, so it is the only thing the report reads.
Rows are keyed by ``run_id``: appending a row whose ``run_id`` is already present replaces the old row, which
makes re-running a stage idempotent. Appends from parallel processes (Hydra multiruns, Slurm arrays) are
serialised with a lock file (:mod:`asc.core.locks`) and published with ``os.replace`` so a reader never sees a
half-written file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_write_text, sweep_stale_temps
from asc.core.disk import explain_full_disk
from asc.core.locks import hold
from asc.core.provenance import COLUMNS as PROVENANCE
from asc.report.results_check import ResultsTableError, check_results_table  # noqa: F401 - callers catch it here

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


class MissingResultsError(ValueError):
    """The results table lacks the rows a table or figure needs; the message names the experiment to run."""


def device_columns(df: pd.DataFrame) -> list[str]:
    """The per-device accuracy columns present in ``df`` (``acc_<device>``), in table order."""
    return [c for c in df.columns if c.startswith(DEVICE_PREFIX)]


def _ordered_columns(columns: Iterable[str]) -> list[str]:
    """Fixed columns first, then per-device accuracies, then anything else the pipeline added."""
    cols = list(dict.fromkeys(columns))
    devices = sorted(c for c in cols if c.startswith(DEVICE_PREFIX))
    extra = [c for c in cols if c not in COLUMNS and c not in devices]
    return COLUMNS + devices + extra


def _missing(value: Any) -> bool:
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _to_str(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _to_bool_or_na(value: Any) -> Any:
    return pd.NA if _missing(value) or value == "" else _to_bool(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return False if _missing(value) else bool(value)


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


def with_ratio_labels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``criterion`` naming its ratio (``centrality 25%``) wherever one dataset holds a criterion
    at several ratios (experiment=centrality_panns: 25/50/75 % removed), so that every table, comparison and
    figure, which group by criterion, tells them apart; other rows unchanged. Within each network where the rows
    carry a ``network`` column (asc.report.networks.with_network_labels, applied first)."""
    from asc.report.rows import ratio_of

    if "ratio" not in df or df.empty:
        return df
    ratios = df["ratio"].map(ratio_of)
    by = [
        df["dataset"],
        *([df["network"]] if "network" in df else []),
        df["criterion"],
    ]  # asc/report/networks.py
    distinct = ratios.where(ratios.ne("")).groupby(by).transform("nunique")
    several = distinct.gt(1) & ratios.ne("")
    out = df.copy()
    out.loc[several, "criterion"] = [
        f"{c} {100 * float(r):g}%" for c, r in zip(df.loc[several, "criterion"], ratios[several], strict=True)
    ]
    return out


# ----------------------------------------------------------------------------------------------------------
# Query helpers shared by the report tables and the figures (both are views of this one table).


def layer_key(layers: str) -> tuple[int, tuple[int, ...], str]:
    """Sort key for layer sets: fewer layers first, then by layer number (C1, C2, C3, C1+C2, ..., C1+C2+C3)."""
    parts = [p for p in str(layers).split("+") if p]
    numbers = tuple(int(re.sub(r"\D", "", p) or 0) for p in parts)
    return (len(parts), numbers, str(layers))


def sort_layer_sets(layer_sets: Iterable[str]) -> list[str]:
    return sorted(set(layer_sets), key=layer_key)


def select(
    df: pd.DataFrame,
    *,
    stage: str | None = None,
    criterion: str | Iterable[str] | None = None,
    layers: str | None = None,
    finetuned: bool | None = None,
    fraction: float | None = None,
    subset: str | None = None,
) -> pd.DataFrame:
    """Rows matching every given condition; ``fraction`` is compared with a tolerance (CSV float round trip),
    ``subset`` with :func:`subset_label` (tells a fraction from an official split of the same share)."""
    mask = pd.Series(True, index=df.index)
    if stage is not None:
        mask &= df["stage"] == stage
    if criterion is not None:
        mask &= df["criterion"].isin([criterion] if isinstance(criterion, str) else list(criterion))
    if layers is not None:
        mask &= df["layers"] == layers
    if finetuned is not None:
        mask &= df["finetuned"].astype(bool) == finetuned
    if fraction is not None:
        mask &= np.isclose(df["fraction"].astype(float), fraction, atol=1e-6)
    if subset is not None:
        mask &= subsets(df) == subset
    return df[mask]


def hard_labels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the plain recipe, trained on the hard labels alone: knowledge-distillation rows (a
    ``teacher``, subset ``<share> KD <teacher>``) and quantisation-aware ones (``qat``, subset ``<share> QAT``:
    int8 scores) are another training and never pooled with them (asc.report.rows.pooling_key); a table without those
    columns is all plain."""
    from asc.report.rows import qat_of, teacher_of

    if "teacher" in df:
        df = df[df["teacher"].map(teacher_of) == ""]
    return df[df["qat"].map(qat_of) == ""] if "qat" in df else df


def subset_label(fraction: Any, split: Any) -> str:
    """The data subset a row was trained (fine-tuned) on, as the tables name it: the official split's name
    (``split25``), else our stratified fraction (``25%``), else "" (none: not fine-tuned). Two subsets of one share
    (``fraction`` 0.25 and ``split25``) differ here, so no grouping by it pools them as repeats."""
    if not _missing(split) and str(split):
        return str(split)
    return "" if _missing(fraction) else f"{float(fraction) * 100:g}%"


def subsets(df: pd.DataFrame) -> pd.Series:
    """:func:`subset_label` of every row of a results table (index kept), with `` KD <teacher>`` for a distilling
    fine-tuning (asc.report.rows.teacher_of), `` QAT`` for a quantisation-aware one (asc.report.rows.qat_of) and the pruning
    schedule of iterative pruning (asc/prune/schedule.py: ``step 2/3`` on a step's own row, `` 3 steps`` after a
    fine-tuning share): the tables that group by subset (criteria, comparisons, summary) keep KD, QAT and k-step
    rows apart from the others, as the pooling key does."""
    from asc.report.rows import qat_of, schedule_label, teacher_of

    empty = pd.Series("", index=df.index)
    split = df["split"] if "split" in df else empty
    teacher = df["teacher"].map(teacher_of) if "teacher" in df else empty
    steps, at = (df[c] if c in df else empty for c in ("prune_steps", "prune_step"))
    labels = [subset_label(f, s) for f, s in zip(df["fraction"], split, strict=True)]
    labels = [f"{label} KD {t}" if t and label else label for label, t in zip(labels, teacher, strict=True)]
    if "qat" in df:
        labels = [
            f"{label} QAT" if qat_of(q) and label else label
            for label, q in zip(labels, df["qat"], strict=True)
        ]
    places = [schedule_label(s, k) for s, k in zip(at, steps, strict=True)]
    out = [
        label if not place else f"{label} {place.split('/')[1]} steps" if label else f"step {place}"
        for label, place in zip(labels, places, strict=True)
    ]
    return pd.Series(out, index=df.index, dtype=object)


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; 0 for a single value) and count of the finite values."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)


def has_folds(df: pd.DataFrame) -> bool:
    """Whether rows carry a test fold (``fold``: a cross-validation's rows, asc/pipeline/cross_validation.py)."""
    return "fold" in df and pd.to_numeric(df["fold"], errors="coerce").notna().any()


def fold_means(rows: pd.DataFrame, column: str) -> pd.Series:
    """The values a table cell summarises: ``rows[column]``, or where the rows carry folds the mean of each fold's
    rows (its seeds or repeats), one value per fold, so that the cell is the mean ± std over folds."""
    if not has_folds(rows):
        return rows[column]
    folds = pd.to_numeric(rows["fold"], errors="coerce")
    return pd.to_numeric(rows[column], errors="coerce").groupby(folds).mean()


def for_dataset(df: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The rows of one dataset; ``None`` is allowed only when the table holds a single dataset."""
    if dataset is not None:
        return df[df["dataset"] == dataset]
    names = sorted(set(df["dataset"]))
    if len(names) > 1:
        raise ValueError(f"results hold several datasets {names}; pass dataset=<one of them>")
    return df
