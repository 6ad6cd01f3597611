"""Prediction and evaluation: class probabilities of one or many models, and the metrics the results table holds
(accuracy, class-averaged accuracy, log loss, per device and per class, confusion matrix).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from asc.data.tasks import SCENES as SCENES_TASK
from asc.data.tasks import Task
from asc.training import fused
from asc.training.device import auto_group_size, parts, precision_mode
from asc.training.losses import probabilities

log = logging.getLogger("asc")
# a network predicting one class for this share of clips has collapsed (e.g. BatchNorm running statistics still
# near their initial values after few batches), unless the labels themselves are that skewed
ONE_CLASS_SHARE = 0.95


@torch.inference_mode()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    *,
    multi_label: bool = False,
    precision: str = "fp32",
) -> np.ndarray:
    """Class probabilities (N, classes) in eval mode (the model is moved to ``device``): softmax, or a sigmoid
    per class when ``multi_label``. ``precision`` fp16: a float16 copy of the model on float16 input, as the DCASE
    2024/2025 baselines test (``model.half()``, ``x.half()``; :data:`asc.training.recipes.EVAL_PRECISIONS`); the model
    itself is not changed."""
    model.to(device).eval()
    dtype = {"fp32": None, "fp16": torch.float16}[precision]
    if dtype is not None:
        model = copy.deepcopy(model).to(dtype)
    out = [
        probabilities(
            model(x[i : i + batch_size].to(device, dtype=dtype or x.dtype)).to(x.dtype), multi_label, dim=1
        ).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out).double().numpy() if out else np.zeros((0, 0))


@torch.inference_mode()
def predict_many(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    channels_last: bool = True,
    group_size: int | None = None,
    formulation: str = "auto",
    multi_label: bool = False,
) -> list[np.ndarray]:
    """Class probabilities (N, classes) of each model: models of one shape in batched passes of ``group_size``
    (default :func:`auto_group_size`; on CUDA all of them in one pass), in float32 without TF32 like training's
    default. ``formulation``: the convolutions' (:mod:`asc.training.fused_conv`; auto: :meth:`asc.training.fused.FusedStack.conv_for`).
    ``multi_label``: a sigmoid per class instead of the softmax (tagging)."""
    groups: dict[tuple, list[int]] = {}
    for i, model in enumerate(models):
        groups.setdefault(tuple((k, tuple(v.shape)) for k, v in model.state_dict().items()), []).append(i)
    out: list[np.ndarray] = [np.zeros((0, 0))] * len(models)
    for idxs in groups.values():
        stack = fused.FusedStack(
            [models[i] for i in idxs], device, channels_last=channels_last, formulation=formulation
        )
        k = group_size or auto_group_size(stack.device)
        with precision_mode("fp32", stack.device):
            chunks = [
                torch.cat(
                    [
                        probabilities(
                            stack.logits(sel, x[i : i + batch_size].to(stack.device)), multi_label, dim=2
                        )
                        for sel in parts(list(range(len(idxs))), k)
                    ],
                    dim=1,
                ).cpu()
                for i in range(0, len(x), batch_size)
            ]
        if chunks:
            probs = torch.cat(chunks).double()
            for g, i in enumerate(idxs):
                out[i] = probs[:, g].numpy()
    return out


def _log_loss(p_true: np.ndarray) -> float:
    # sklearn's convention: probabilities clipped away from 0 so a confident mistake costs ~34.5, not infinity.
    return float(-np.log(np.clip(p_true, 1e-15, 1.0)).mean()) if p_true.size else math.nan


def metrics(
    probs: np.ndarray, labels: np.ndarray, devices: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, class-averaged accuracy, log loss, per-device and per-class figures, confusion matrix."""
    labels = np.asarray(labels)
    devices = np.asarray(devices)
    pred = probs.argmax(1)
    p_true = probs[np.arange(len(labels)), labels]
    hit = pred == labels
    per_class = {
        c: {"accuracy": float(hit[labels == k].mean()), "log_loss": _log_loss(p_true[labels == k])}
        for k, c in enumerate(classes)
        if (labels == k).any()
    }
    per_device = {
        d: {"accuracy": float(hit[devices == d].mean()), "log_loss": _log_loss(p_true[devices == d])}
        for d in sorted(set(devices.tolist()))
    }
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    return {
        "accuracy": float(hit.mean()),
        "class_avg_accuracy": float(np.mean([v["accuracy"] for v in per_class.values()])),
        "log_loss": _log_loss(p_true),
        "per_device": per_device,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n": int(len(labels)),
    }


def warn_one_class(pred: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> bool:
    """Log one warning (and return True) when ≥ ONE_CLASS_SHARE of the clips are predicted as one class though
    the labels are not that skewed: a collapsed network whose accuracy is chance, not a finding."""
    if len(pred) < 10 or len(classes) < 3:
        return False
    top = int(np.bincount(pred, minlength=len(classes)).argmax())
    share = float((pred == top).mean())
    if share < ONE_CLASS_SHARE or float((labels == top).mean()) >= ONE_CLASS_SHARE:
        return False
    log.warning(
        f"the network predicts class {classes[top]!r} for {share:.0%} of {len(pred)} clips: it has not learned "
        "(in eval mode: BatchNorm running statistics may still be near their initial values after few training "
        "batches; train on more batches)"
    )
    return True


# ---------------------------------------------------------------------- per-run state and checkpoints


def evaluate(
    models: Sequence[nn.Module],
    split: Any,
    *,
    batch_size: int,
    device: torch.device,
    task: Task = SCENES_TASK,
    precision: str = "fp32",
    trained: bool = False,
) -> list[dict[str, Any]]:
    """:func:`metrics` of every model on ``split`` (an :class:`asc.frontend.splits.Split`: x (N, n_mels, frames), y (N,),
    rows with a ``device`` column), all models of one architecture in one batched pass. A multi-label ``task``:
    sigmoid outputs scored by :func:`asc.training.tagging_metrics.tagging_metrics` against y (N, classes) 0/1 (class
    names from the split's ``classes`` when it has them). ``precision`` fp16: each model in float16 (:func:`predict`).
    ``trained``: the models were just trained, so one that predicts one class for nearly every clip is warned about
    (:func:`warn_one_class`); a pruned network before fine-tuning or a quantised copy may collapse and says so in
    its accuracy, with no training to blame."""
    from asc.nets.model import BaselineCNN

    if precision == "fp32" and all(isinstance(m, BaselineCNN) for m in models):  # one batched pass
        probs = predict_many(
            list(models), split.x, batch_size=batch_size, device=device, multi_label=task.multi_label
        )
    else:  # fp16 (DCASE 2024/2025: a float16 copy of each model) or zoo networks: one model at a time
        probs = [
            predict(m, split.x, batch_size, device, multi_label=task.multi_label, precision=precision)
            for m in models
        ]
    if task.multi_label:
        from asc.training.tagging_metrics import tagging_metrics

        return [tagging_metrics(p, split.y.numpy(), getattr(split, "classes", None)) for p in probs]
    from asc.data.tau import SCENES

    labels = split.y.numpy()
    names = getattr(split, "classes", None) or SCENES  # a set's own classes (ESC-50's 50), else TAU's scenes
    if trained:
        for p in probs:
            warn_one_class(p.argmax(1), labels, names)
    return [metrics(p, labels, split.rows["device"].tolist(), names) for p in probs]
