"""The training recipe's optimiser, learning-rate schedule, model selection and evaluation precision: their
choices, their defaults (the paper's recipe: Adam, constant learning rate, best epoch, float32) and the schedule's
formula. Torch-free: validation and planning read it; :mod:`asc.training.train` and :mod:`asc.training.fused_ops` apply it.

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
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError
from asc.core.values import boolean, choice, fail, integer, number
from asc.training.patch_examples import CLIPS, EXAMPLES
from asc.training.sampling import SAMPLINGS, UNIFORM

PRECISIONS = ("fp32", "tf32", "bf16")  # of training: asc.training.device.precision_mode
# DCASE 2024's official training splits (asc.data.tau2022): train.split and a runs block's splits
SPLIT_NAMES = ("split5", "split10", "split25", "split50", "split100")

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
# when it differs (asc/pipeline/stages/train.py ``recipe``), so the artifacts of the paper's recipe keep their keys.
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


def check_recipe(prefix: str, r: Mapping[str, Any], allow_test: bool) -> None:
    """The training recipe of config node ``prefix`` (train, finetune, perdevice); ``allow_test``:
    protocol.allow_test_selection. Raises ConfigError naming the first bad key, its value and what is valid."""
    integer(f"{prefix}.epochs", r["epochs"], 1)
    integer(f"{prefix}.batch_size", r["batch_size"], 1)
    number(f"{prefix}.lr", r["lr"], 0.0, math.inf)
    number(f"{prefix}.adam_eps", r["adam_eps"], 0.0, math.inf)
    integer(f"{prefix}.select_after", r["select_after"], 0)
    choice(f"{prefix}.select_on", r["select_on"], ("val", "test"))
    choice(f"{prefix}.precision", r["precision"], PRECISIONS)
    choice(f"{prefix}.sampling", r.get("sampling") or UNIFORM, SAMPLINGS)
    choice(f"{prefix}.examples", r.get("examples") or CLIPS, EXAMPLES)  # the network's fit: stage checks
    choice(f"{prefix}.optimizer", r["optimizer"], OPTIMIZERS)
    number(f"{prefix}.weight_decay", r["weight_decay"], 0.0, 1.0, low_open=False, high_open=True)
    if r["optimizer"] == "adam" and r["weight_decay"]:
        fail(
            f"{prefix}.weight_decay",
            r["weight_decay"],
            f"0 with {prefix}.optimizer=adam (or optimizer=adamw)",
        )
    choice(f"{prefix}.schedule", r["schedule"], SCHEDULES)
    integer(f"{prefix}.warmup_steps", r["warmup_steps"], 0)
    if "select" in r:  # the per-device recipe has none: its models always keep the last epoch
        choice(f"{prefix}.select", r["select"], SELECTIONS)
    choice(f"{prefix}.eval_precision", r["eval_precision"], EVAL_PRECISIONS)
    if selects_on_test(r) and not allow_test:
        raise ConfigError(
            f"{prefix}.select_on=test with {prefix}.select=best picks the epoch on the test split, the split the "
            f"results report (optimistic): set {prefix}.select_on=val, {prefix}.select=last (no selection, as the "
            "DCASE 2024/2025 baselines), or say so with protocol.allow_test_selection=true (protocol=authors does)"
        )


def check_official_split(t: Mapping[str, Any], finetune: Mapping[str, Any]) -> None:
    """The train node's ``train.split``: DCASE 2024/2025 draw a split from all of fold1_train, so the val hold-out is in it."""
    split = t.get("split")
    if split is None:
        return
    if split not in SPLIT_NAMES:
        fail("train.split", split, "null or one of " + ", ".join(SPLIT_NAMES))
    if t.get("init_from"):
        fail("train.split", split, "null with train.init_from (a given model is not trained)")
    for key, stage in (("train", t), ("finetune", finetune)):
        if selected_on(stage) == "val":
            raise ConfigError(
                f"train.split={split} trains on clips of all fold1_train, the val hold-out included, so "
                f"{key}.select_on=val would select on training clips: set {key}.select=last (as DCASE 2024/2025, "
                f"e.g. train=dcase2024 finetune=dcase2024) or {key}.select_on=test with "
                "protocol.allow_test_selection=true"
            )


def check_training(cfg: Mapping[str, Any]) -> None:
    """The training side of a config: the train, finetune and perdevice recipes (:func:`check_recipe`), the
    baseline seeds, a given model file, the official split and what fine-tuning trains on. Raises ConfigError
    naming the first bad key."""
    t, allow_test = cfg["train"], cfg["protocol"].get("allow_test_selection", False)
    boolean("protocol.allow_test_selection", allow_test)
    check_recipe("train", t, allow_test)
    seeds = t["seeds"]
    if not isinstance(seeds, list) or not seeds:
        fail("train.seeds", seeds, "a non-empty list of integers")
    integer("seed", cfg["seed"], 0)  # train.seeds defaults to [${seed}]: name the key the user typed
    for i, seed in enumerate(seeds):
        integer(f"train.seeds[{i}]", seed, 0)
    if len(set(seeds)) != len(seeds):
        fail("train.seeds", seeds, "distinct seeds (a repeated seed trains the same baseline twice)")
    if t.get("init_from") is not None and not Path(t["init_from"]).is_file():
        fail("train.init_from", t["init_from"], "an existing Keras .h5 or asc model.pt file")
    check_official_split(t, cfg["finetune"])
    ft = cfg["finetune"]
    check_recipe("finetune", ft, allow_test)
    check_recipe("perdevice", cfg["perdevice"], allow_test)
    choice("finetune.train_on", ft["train_on"], ("train", "fold1_train"))
    if ft["train_on"] == "fold1_train" and selected_on(ft) == "val":
        raise ConfigError(
            "finetune.train_on=fold1_train trains on the val hold-out too, so finetune.select_on=val would select "
            "on training clips: set finetune.select=last (no selection), finetune.select_on=test with "
            "protocol.allow_test_selection=true (as protocol=authors) or finetune.train_on=train"
        )
    choice("finetune.subset", ft["subset"], ("per_repeat", "shared"))
    integer("finetune.seed", ft["seed"], 0)
