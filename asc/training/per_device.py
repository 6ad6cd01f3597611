"""Per-device models (DCASE 2025 Task 1): one copy of a general model fine-tuned per known device, device routing.

The 2025 baseline (CPJKU/dcase2025_task1_baseline, ``train_device_specific.py``) loads the general model, then for
each training device a, b, c, s1, s2, s3 fine-tunes a copy on that device's clips of the training split (split25)
and keeps the last epoch; at test time a clip of a known device goes to its device's model and any other clip
(s4–s6, unknown devices) to the general model. Its six fine-tunings run one after another. Here they are M = 6
runs of one width — what :func:`asc.training.train.train_many` fuses into one pass: :func:`device_runs` builds them,
:func:`predict_routed` evaluates with the routing, :func:`asc.training.evaluate.metrics` gives accuracy per device and
overall (its ``class_avg_accuracy`` is DCASE 2024/2025's macro-average accuracy). The complexity limits hold for
each device model alone (docs/tau2022_mobile.md §6); copies of one pruned network have its widths, so one
:func:`asc.report.rules.rule_columns` row covers all of them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from asc.core.errors import InputError
from asc.training.evaluate import metrics, predict
from asc.training.train import Recipe, Run

log = logging.getLogger(__name__)

KNOWN_DEVICES = ("a", "b", "c", "s1", "s2", "s3")  # the devices of TAU's training split (DCASE 2025)


def device_subsets(pool: pd.DataFrame, devices: Sequence[str] = KNOWN_DEVICES) -> dict[str, np.ndarray]:
    """Sorted positions (into ``pool``, column ``device``) of each device's clips, for the devices that have
    any (a device without clips gets no model: its clips will go to the general model). InputError when
    none of ``devices`` occurs in the pool."""
    if "device" not in pool.columns:
        raise InputError(f"the training pool has no 'device' column (columns: {list(pool.columns)})")
    column = pool["device"].astype(str).to_numpy()
    out = {d: np.flatnonzero(column == d) for d in dict.fromkeys(devices)}
    absent = [d for d, pos in out.items() if len(pos) == 0]
    if absent:
        log.info("no training clips of device(s) %s: their clips go to the general model", ", ".join(absent))
    out = {d: pos for d, pos in out.items() if len(pos)}
    if not out:
        raise InputError(
            f"none of the devices {list(devices)} occurs in the training pool (it has {sorted(set(column))})"
        )
    return out


def last_epoch(recipe: Recipe) -> Recipe:
    """``recipe`` keeping the last epoch, as the 2025 baseline does (its device models are not selected on a
    validation split): train_many then keeps the final weights of every run."""
    return replace(recipe, select_after=recipe.epochs)


def device_runs(
    general: nn.Module,
    subsets: Mapping[str, np.ndarray],
    *,
    recipe: Recipe,
    seed: int,
    workdir: str | Path,
    label: str = "",
) -> list[Run]:
    """One :class:`asc.training.train.Run` per device: a copy of ``general`` (its weights are not touched), that device's
    positions as the run's subset, ``workdir/device_<d>`` for its checkpoints, one ``seed`` for all (they
    differ by data). Pass the list to :func:`asc.training.train.train_many` — same widths, so one fused pass."""
    return [
        Run(
            model=copy.deepcopy(general),
            train_idx=torch.as_tensor(np.asarray(positions), dtype=torch.long),
            seed=int(seed),
            workdir=Path(workdir) / f"device_{device}",
            recipe=recipe,
            label=f"{label} device {device}".strip(),
        )
        for device, positions in subsets.items()
    ]


def predict_routed(
    general: nn.Module,
    device_models: Mapping[str, nn.Module],
    x: torch.Tensor,
    devices: Sequence[str],
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, classes) with device routing: each clip of a device in ``device_models`` by that
    model, every other clip by ``general`` (in ``precision``, :func:`asc.training.evaluate.predict`). Also returns, per
    clip, the device whose model answered ("" for the general model)."""
    if len(devices) != len(x):
        raise ValueError(f"{len(devices)} device labels for {len(x)} clips")
    route = route_clips(devices, device_models)

    def answer(name: str, rows: np.ndarray) -> np.ndarray:
        model = device_models[name] if name else general
        return predict(model, x[torch.as_tensor(rows)], batch_size, device, precision=precision)

    return routed(route, answer), route


def route_clips(devices: Sequence[str], models: Any) -> np.ndarray:
    """Per clip, the device whose model answers it: the clip's own device where ``models`` (names) has one, else
    "" (the general model). The one routing rule of the per-device evaluations (PyTorch, and ONNX in
    asc/pipeline/stages/quantise_devices.py)."""
    devices = np.asarray([str(d) for d in devices])
    return np.where(np.isin(devices, [str(m) for m in models if m]), devices, "")


def routed(route: np.ndarray, answer: Any) -> np.ndarray:
    """Class probabilities (N, classes) in clip order: ``answer(name, rows)`` gives those of the clips at positions
    ``rows`` (ascending) by the model ``route`` names for them (:func:`route_clips`); (0, 0) for no clip."""
    probs: np.ndarray | None = None
    for name in dict.fromkeys(route.tolist()):
        rows = np.flatnonzero(route == name)
        p = answer(name, rows)
        if probs is None:
            probs = np.zeros((len(route), p.shape[1]))
        probs[rows] = p
    return probs if probs is not None else np.zeros((0, 0))


def routed_metrics(
    general: nn.Module,
    device_models: Mapping[str, nn.Module],
    x: torch.Tensor,
    labels: np.ndarray,
    devices: Sequence[str],
    classes: Sequence[str],
    **predict_kwargs: Any,
) -> dict[str, Any]:
    """:func:`asc.training.evaluate.metrics` of the routed predictions (accuracy, macro accuracy, log loss, per device,
    per class) plus ``routed_to``: per test device, the model that answered it (the device or "general")."""
    probs, route = predict_routed(general, device_models, x, devices, **predict_kwargs)
    out = metrics(probs, np.asarray(labels), list(devices), list(classes))
    answered = dict(zip(np.asarray(devices).tolist(), route.tolist(), strict=True))
    out["routed_to"] = {d: (r or "general") for d, r in sorted(answered.items())}
    return out
