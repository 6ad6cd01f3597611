"""Training curves: the training loss and the selection-split accuracy per epoch of every baseline and fine-tuned
model, read from the history each training artifact stores (``metrics.json`` beside the row's ``checkpoint``:
``history`` = one ``{"epoch", "loss", "select_acc", ...}`` per epoch, asc/training/train.py).

Top row the baselines, bottom row the fine-tuned models (fine-tuning starts from a pruned network, so its epochs
count from 1 again); a series is one criterion on one layer set with one teacher (none: hard labels) — different
networks or trainings are never one line; each run is a thin line, and where a series has n ≥ 2 runs its mean per
epoch is drawn thick (a criterion's colour, a layer set's line style). The legend gives n per series. Epoch axes
tick whole epochs only. Rows whose artifact is not on this machine are left out (one log line)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from asc.report.figures.style import LABELS, STYLE, criterion_colors, save_figure
from asc.report.networks import one_network
from asc.report.queries import MissingResultsError, for_dataset
from asc.report.rows import teacher_of

log = logging.getLogger(__name__)

PANELS = (("loss", "Training loss", 1.0), ("select_acc", "Selection accuracy (%)", 100.0))
ROWS = (("baseline", "Baseline"), ("finetune", "Fine-tuning"))
SERIES = ["criterion", "layers", "teacher"]  # what tells one curve from another
LINE_STYLES = ("-", "--", ":", "-.")  # per layer set within a criterion


def _history_file(row: pd.Series) -> Path | None:
    return Path(row["checkpoint"]).parent / "metrics.json" if row["checkpoint"] else None


def history_files(df: pd.DataFrame) -> list[Path]:
    """The ``metrics.json`` files :func:`histories` reads for ``df``'s rows (present or not), in row order: what
    the training curves are drawn from besides the rows (asc/report/report_record.py)."""
    rows = df[df["stage"].isin([stage for stage, _ in ROWS])] if "checkpoint" in df else df.iloc[:0]
    return [path for _, row in rows.iterrows() if (path := _history_file(row)) is not None]


def histories(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, epoch): ``run_id``, ``stage``, ``criterion``, ``layers``, ``teacher`` (its label, ""
    for hard labels), ``epoch``, ``loss``, ``select_acc``, from the ``metrics.json`` beside each baseline and
    fine-tuned row's checkpoint."""
    records, missing = [], 0
    for _, row in df[df["stage"].isin([stage for stage, _ in ROWS])].iterrows():
        path = _history_file(row)
        try:
            history = json.loads(path.read_text()).get("history") or [] if path else []
        except (OSError, ValueError):
            missing += 1
            continue
        for h in history:
            records.append(
                {
                    "run_id": row["run_id"],
                    "stage": row["stage"],
                    "criterion": row["criterion"],
                    "layers": "" if pd.isna(row.get("layers")) else str(row.get("layers") or ""),
                    "teacher": teacher_of(row.get("teacher")),
                }
                | {k: h.get(k, np.nan) for k in ("epoch", "loss", "select_acc")}
            )
    if missing:
        log.info("training curves: %d row(s) have no metrics.json beside their checkpoint; left out", missing)
    return pd.DataFrame.from_records(
        records, columns=["run_id", "stage", *SERIES, "epoch", "loss", "select_acc"]
    )


def training_curves(df: pd.DataFrame, stem: Path, *, dataset: str | None = None) -> list[Path]:
    """Loss and selection accuracy per epoch of the baselines and the fine-tuned models (see the module)."""
    curves = histories(one_network(for_dataset(df, dataset), "the training curves"))
    if curves.empty:
        raise MissingResultsError(
            "the training curves need baseline or fine-tuned rows whose artifacts (metrics.json with the "
            "per-epoch history) are in the store; run `asc` (the demo) or `asc experiment=paper_fig3`"
        )
    stages = [(stage, title) for stage, title in ROWS if (curves["stage"] == stage).any()]
    colors = criterion_colors(curves["criterion"].unique())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(stages), 2, figsize=(7.0, 2.2 * len(stages)), squeeze=False, layout="constrained"
        )
        for (stage, title), row in zip(stages, axes, strict=True):
            sub = curves[curves["stage"] == stage]
            for ax, (column, label, scale) in zip(row, PANELS, strict=True):
                for key, runs in sub.groupby(SERIES, sort=False):
                    _series(ax, key, runs, column, scale, colors[key[0]], _style(sub, key))
                ax.set_xlabel(f"{title} epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs: no 2.5
                ax.set_ylabel(label)
                ax.grid(alpha=0.3, lw=0.5)
            row[1].legend(
                frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5)
            )  # beside, not over
        return save_figure(fig, stem)


def _style(sub: pd.DataFrame, key: tuple[str, str, str]) -> str:
    """The line style of a series: its layer set's place among its criterion's layer sets."""
    mine = list(dict.fromkeys(sub.loc[sub["criterion"] == key[0], "layers"]))
    return LINE_STYLES[mine.index(key[1]) % len(LINE_STYLES)]


def _series(ax: plt.Axes, key, runs: pd.DataFrame, column: str, scale: float, color: str, ls: str) -> None:
    """One series' runs (thin) and, for n ≥ 2, their mean per epoch (thick), labelled with n."""
    crit, layers, teacher = key
    n = runs["run_id"].nunique()
    for _, run in runs.groupby("run_id", sort=False):
        ax.plot(run["epoch"], run[column] * scale, color=color, ls=ls, lw=0.6, alpha=0.35 if n > 1 else 1)
    name = "Unpruned" if crit == "none" else LABELS.get(crit, crit)
    name += f" {layers}" if layers and crit != "none" else ""
    name += f" KD {teacher}" if teacher else ""
    if n > 1:
        mean = runs.groupby("epoch")[column].mean() * scale
        ax.plot(mean.index, mean.values, color=color, ls=ls, lw=1.4, label=f"{name} (n = {n}; thick: mean)")
    else:
        ax.plot([], [], color=color, ls=ls, lw=0.8, label=f"{name} (n = 1)")
