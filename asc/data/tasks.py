"""What a dataset asks of a network: the task (single-label scenes or multi-label tagging), declared once.

A task decides the output non-linearity and the loss (softmax + cross-entropy for one scene per clip, sigmoid +
binary cross-entropy for any number of tags per clip, as PANNs trains on AudioSet: Kong et al. 2020,
arXiv 1912.10211, and ``audioset_tagging_cnn/pytorch/losses.py``), the results-table column that selects epochs
and that tables, statistics and figures show (``accuracy`` or ``mAP``), and which columns are compared in pairs.

The dataset config names its task once (``dataset.task: scenes | tagging``, default scenes); every other module
asks the :class:`Task` it gets from :func:`task_of` — never the dataset's name. Torch-free: planning reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asc.core.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """One kind of output. ``metric``: the results-table column that selects epochs and heads the tables (higher
    is better); ``paired``: column → (label in tables, scale of a difference) compared over repeats
    (:mod:`asc.report.compare`); ``range``: each metric column's valid range (the results table's checks)."""

    name: str
    multi_label: bool
    metric: str
    metric_label: str
    short: str  # the metric in a table's column head ("Acc. no FT (%)", "mAP FT 50% (%)")
    paired: Mapping[str, tuple[str, float]]
    range: Mapping[str, tuple[float, float]]
    select_key: str  # the per-epoch history entry of the selection metric (asc.training.train)
    finite: tuple[str, ...]  # metrics that must be finite before a model is stored (d′ may be ±inf)
    # the index columns whose every combination keeps its share in a fine-tuning fraction (asc.data.fractions);
    # none: one stratum (a clip of many tags has no one class to stratify by)
    strata: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every metric column this task writes to the results table."""
        return tuple(self.range)


SCENES = Task(
    name="scenes",
    multi_label=False,
    metric="accuracy",
    metric_label="Accuracy (%)",
    short="Acc.",
    paired={"accuracy": ("accuracy (pp)", 100.0), "log_loss": ("log loss", 1.0)},
    range={"accuracy": (0.0, 1.0), "class_avg_accuracy": (0.0, 1.0), "log_loss": (0.0, float("inf"))},
    select_key="select_acc",
    finite=("accuracy", "log_loss"),
    strata=("scene", "device"),
)
# mAP, AUC and d' as PANNs reports them (audioset_tagging_cnn/pytorch/evaluate.py, utilities.d_prime): d' is
# sqrt(2)·Φ⁻¹(AUC), unbounded; differences of mAP and AUC in points (×100) as PANNs' tables print them.
TAGGING = Task(
    name="tagging",
    multi_label=True,
    metric="mAP",
    metric_label="mAP (%)",
    short="mAP",
    paired={"mAP": ("mAP (points)", 100.0), "auc": ("AUC (points)", 100.0), "d_prime": ("d′", 1.0)},
    range={"mAP": (0.0, 1.0), "auc": (0.0, 1.0), "d_prime": (float("-inf"), float("inf"))},
    select_key="select_mAP",
    finite=("mAP", "auc"),
)
TASKS: dict[str, Task] = {t.name: t for t in (SCENES, TAGGING)}


def task_of(dataset_cfg: Mapping[str, Any]) -> Task:
    """The task a dataset config declares (``task``, default ``scenes``). Raises ConfigError for another value."""
    name = dataset_cfg.get("task") or SCENES.name
    if name not in TASKS:
        raise ConfigError(f"dataset.task={name!r} is not a task; choose one of {', '.join(TASKS)}")
    return TASKS[name]


N_SCENES = 10  # every scenes dataset here has TAU's ten scene classes (asc.data.tau.SCENES)


def classes_of(dataset_cfg: Mapping[str, Any]) -> int:
    """The dataset's class count: its ``classes`` (527 for AudioSet, 50 for ESC-50), else TAU's ten scenes."""
    return int(dataset_cfg["classes"]) if "classes" in dataset_cfg else N_SCENES


def task_of_rows(df: Any) -> Task:
    """The task of a results table's rows (a pandas DataFrame of one dataset): tagging when its ``mAP`` column
    holds a value, else scenes (accuracy). Used by the report, which reads only the table."""
    for task in TASKS.values():
        if task.multi_label and task.metric in df and df[task.metric].notna().any():
            return task
    return SCENES
