"""BatchNorm recalibration (asc/training/bn_stats.py, train.bn_recalibration): running statistics recomputed over training
batches equal the data's, the trained weights do not change, a slow running average that collapses the eval-mode
network is fixed, and planning keys and refuses it as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from asc.core.errors import ConfigError
from asc.pipeline.stages.train import recipe
from asc.training.bn_stats import check, keyed, recalibrate
from asc.training.train import Recipe, Run
from asc.training.train_plain import train_one


def tiny(seed: int = 0) -> nn.Module:
    """Conv → BatchNorm (momentum 0.01, EfficientAT's) → ReLU → pool → Linear, on (batch, mel, frames)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (1, 6)),
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4, eps=1e-3, momentum=0.01),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4, 2),
    )


def separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of (6 mel, 8 frames) clips, offset far from 0 (as unnormalised log-mel is): class 1 louder."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 20.0 + 3.0 * y[:, None, None] + torch.randn(n, 6, 8, generator=g)
    return x, y


def test_recalibrated_running_stats_equal_the_data_statistics() -> None:
    model = tiny()
    x, _ = separable(48, 0)
    positions = torch.arange(48)
    bn = model[2]
    with torch.no_grad():
        out = model[1](model[0](x))  # the BatchNorm's input (48, 4, 6, 8)
    per_channel = out.transpose(0, 1).reshape(4, -1)
    assert not torch.allclose(bn.running_mean, per_channel.mean(1), atol=1e-3)  # the initial statistics
    recalibrate(model, x, positions, batch_size=48)  # one batch of all clips: exactly the data's statistics
    torch.testing.assert_close(bn.running_mean, per_channel.mean(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_var, per_channel.var(1), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.01
    recalibrate(model, x, positions, batch_size=16)  # three batches: the mean of the batches' statistics
    batch_vars = torch.stack([out[i : i + 16].transpose(0, 1).reshape(4, -1).var(1) for i in (0, 16, 32)])
    torch.testing.assert_close(bn.running_mean, per_channel.mean(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_var, batch_vars.mean(0), rtol=1e-4, atol=1e-5)


RECIPE = Recipe(
    epochs=2, batch_size=8, lr=1e-2, adam_eps=1e-7, select_after=0, select="last"
)  # weights comparable


def _train(n_batches: int, tmp_path: Path) -> tuple[nn.Module, dict]:
    x, y = separable(64, 1)
    xv, yv = separable(32, 2)
    run = Run(tiny(3), torch.arange(64), seed=5, workdir=tmp_path, recipe=RECIPE)
    history = train_one(run, (x, y), (xv, yv), bn_recalibration=n_batches)
    return run.model, history


def test_recalibration_fixes_the_eval_collapse_and_keeps_the_weights(tmp_path: Path) -> None:
    """16 optimiser steps at momentum 0.01 leave the running mean near its start: the eval-mode network predicts
    one class (chance on balanced data). Recalibrated, it scores as the weights allow; the weights are the same."""
    plain, h0 = _train(0, tmp_path / "a")
    fixed, h1 = _train(4, tmp_path / "b")
    assert h0["best_select_acc"] <= 0.5
    assert h1["best_select_acc"] >= 0.9
    for (name, a), b in zip(plain.named_parameters(), fixed.parameters(), strict=True):
        torch.testing.assert_close(a, b, msg=name)  # the same trajectory: only the statistics differ
    assert not torch.allclose(plain[2].running_mean, fixed[2].running_mean)


def test_keyed_only_when_on_and_checked_at_planning() -> None:
    base = {
        "epochs": 2,
        "batch_size": 8,
        "lr": 1e-3,
        "adam_eps": 1e-7,
        "select_after": 0,
        "select_on": "val",
        "precision": "fp32",
    }
    assert recipe({**base, "bn_recalibration": 0}) == recipe(base)  # existing keys stay
    assert recipe({**base, "bn_recalibration": 20})["bn_recalibration"] == 20
    assert keyed({"bn_recalibration": 0}) == {}
    check("train", {"bn_recalibration": 20}, fused=False, trainer="model=efficientat_mn04")
    with pytest.raises(ConfigError, match=r"^train.bn_recalibration=20: model=dcase21 trains fused"):
        check("train", {"bn_recalibration": 20}, fused=True, trainer="model=dcase21")
    with pytest.raises(ConfigError, match=r"finetune.bn_recalibration=-1 is not valid"):
        check("finetune", {"bn_recalibration": -1}, fused=False, trainer="model=efficientat_mn04")
