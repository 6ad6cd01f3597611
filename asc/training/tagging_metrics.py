"""Multi-label (audio tagging) metrics as PANNs computes them: mAP, AUC and d′.

PANNs (Kong et al. 2020, ``audioset_tagging_cnn/pytorch/evaluate.py``) scores clip-wise sigmoid outputs with
``sklearn.metrics.average_precision_score(target, output, average=None)`` and ``roc_auc_score(..., average=None)``
and reports their means over classes; d′ = sqrt(2)·Φ⁻¹(AUC) (``utilities.d_prime``, ``scipy.stats.norm.ppf``).

One difference, named here: PANNs evaluates on AudioSet's evaluation set where every class has positives and
negatives. On a small split some class may have none (AP is undefined without positives, AUC without either);
such classes are left out of the means, and ``n_classes_scored`` says how many counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score


def d_prime(auc: float) -> float:
    """Sensitivity index of an AUC: sqrt(2)·Φ⁻¹(AUC) (PANNs ``utilities.d_prime``); ±inf at AUC 1 or 0."""
    return float(stats.norm.ppf(auc) * math.sqrt(2.0))


def scorable(targets: np.ndarray) -> np.ndarray:
    """Boolean (C,): the classes of targets (N, C) with at least one positive and one negative clip."""
    pos = targets.astype(bool).sum(0)
    return (pos > 0) & (pos < len(targets))


def _check(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, targets = np.asarray(probs, dtype=float), np.asarray(targets)
    if probs.ndim != 2 or probs.shape != targets.shape:
        raise ValueError(f"scores {probs.shape} and targets {targets.shape} must both be (clips, classes)")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("targets must be 0/1 (or bool): one column per class, 1 where the tag is present")
    return probs, targets.astype(int)


def mean_average_precision(probs: np.ndarray, targets: np.ndarray) -> float:
    """mAP: the mean over scorable classes of ``average_precision_score`` (PANNs' formula). probs, targets:
    (N, C) scores and 0/1 tags. NaN when no class is scorable."""
    probs, targets = _check(probs, targets)
    keep = scorable(targets)
    if not keep.any():
        return math.nan
    return float(np.mean(average_precision_score(targets[:, keep], probs[:, keep], average=None)))


def tagging_metrics(
    probs: np.ndarray, targets: np.ndarray, classes: Sequence[str] | None = None
) -> dict[str, Any]:
    """mAP, mean AUC, d′ of the mean AUC (as PANNs reports it), per-class AP/AUC and the counts.

    probs: (N, C) sigmoid outputs; targets: (N, C) 0/1. Returns ``{"mAP", "auc", "d_prime", "per_class",
    "n", "n_classes_scored"}``; per_class maps class name (``classes`` or the column number) → {ap, auc,
    positives}. Raises ValueError on shapes or non-binary targets."""
    probs, targets = _check(probs, targets)
    names = list(classes) if classes is not None else [str(k) for k in range(targets.shape[1])]
    keep = scorable(targets)
    ap = np.full(len(names), np.nan)
    auc = np.full(len(names), np.nan)
    if keep.any():
        ap[keep] = average_precision_score(targets[:, keep], probs[:, keep], average=None)
        auc[keep] = roc_auc_score(targets[:, keep], probs[:, keep], average=None)
    mean_auc = float(np.nanmean(auc)) if keep.any() else math.nan
    return {
        "mAP": float(np.nanmean(ap)) if keep.any() else math.nan,
        "auc": mean_auc,
        "d_prime": d_prime(mean_auc) if keep.any() else math.nan,
        "per_class": {
            c: {"ap": float(ap[k]), "auc": float(auc[k]), "positives": int(targets[:, k].sum())}
            for k, c in enumerate(names)
        },
        "n": int(len(targets)),
        "n_classes_scored": int(keep.sum()),
    }
