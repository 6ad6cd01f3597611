"""The training recipe's optimiser, learning-rate schedule, model selection and evaluation precision: their
choices, their defaults (the paper's recipe: Adam, constant learning rate, best epoch, float32) and the schedule's
formula. Torch-free: validation and planning read it; :mod:`asc.train` and :mod:`asc.fused_ops` apply it.

The DCASE 2024 and 2025 Task 1 baselines (CPJKU/dcase2024_task1_baseline ``run_training.py``,
CPJKU/dcase2025_task1_baseline ``train_base.py`` and ``train_device_specific.py``) train with
``torch.optim.AdamW(lr, weight_decay)`` and ``transformers.get_cosine_schedule_with_warmup(num_warmup_steps,
num_training_steps=trainer.estimated_stepping_batches)`` stepped once per optimiser step, keep the last epoch
(``ModelCheckpoint(save_last=True)``, tested with ``ckpt_path='last'``) and evaluate the model in float16
(``model.half()`` in ``test_step``). conf/train/dcase2024.yaml, conf/finetune/dcase2024.yaml and
conf/perdevice/dcase2025.yaml hold their values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

OPTIMIZERS = ("adam", "adamw")  # adam: torch.optim.Adam, no weight decay; adamw: decoupled weight decay
SCHEDULES = (
    "constant",
    "cosine",
)  # after the linear warm-up: constant, or cosine decay to 0 at the last step
SELECTIONS = (
    "best",
    "last",
)  # best: the best epoch on the selection split after select_after; last: no selection
EVAL_PRECISIONS = (
    "fp32",
    "fp16",
)  # fp16: weights and input cast to float16 for the evaluation (DCASE 2024/2025)

# The new recipe keys and the value that leaves a recipe as it was before they existed: a recipe keys them only
# when it differs (asc/stages/train.py ``recipe``), so the artifacts of the paper's recipe keep their keys.
DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",
    "weight_decay": 0.0,
    "schedule": "constant",
    "warmup_steps": 0,
    "select": "best",
    "eval_precision": "fp32",
}


def keyed(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The new recipe keys of a train, finetune or perdevice config whose value is not the default (absent keys
    are the default: a config written before they existed)."""
    return {k: stage_cfg[k] for k, v in DEFAULTS.items() if k in stage_cfg and stage_cfg[k] != v}


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """The multiplier of the base learning rate for the optimiser step that has ``step`` steps before it (0 for the
    first: as a ``LambdaLR`` stepped per batch, the first step runs at factor 0 under a warm-up).

    Warm-up: ``step / warmup_steps`` below ``warmup_steps``. Then ``constant``: 1; ``cosine``:
    ``max(0, 0.5 (1 + cos(pi p)))`` with ``p = (step - warmup) / max(1, total - warmup)`` — the formula of
    ``transformers.get_cosine_schedule_with_warmup`` (num_cycles 0.5) that both baselines use, and, with no
    warm-up, of ``get_constant_schedule``. Raises ValueError for another ``schedule``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; valid values: {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def selected_on(stage_cfg: Mapping[str, Any]) -> str:
    """What the results row's ``select_on`` says of a train, finetune or perdevice config: the split the kept
    epoch was chosen on (``val`` or ``test``), or ``last epoch`` when nothing was selected (``select: last``, no
    ``select`` key as the per-device recipe, or no epoch after ``select_after``)."""
    if stage_cfg.get("select", "last") == "last" or int(stage_cfg["select_after"]) >= int(
        stage_cfg["epochs"]
    ):
        return "last epoch"
    return str(stage_cfg["select_on"])


def selects_on_test(stage_cfg: Mapping[str, Any]) -> bool:
    """Whether the kept epoch is chosen on the test split, the split the results report."""
    return selected_on(stage_cfg) == "test"
