"""The training loop: seeded reproducibility, exact resume after an interruption, model selection, metrics."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from asc.model import build_model
from asc.train import fit, metrics, predict

SPEC = {"widths": [4, 4, 8], "input_shape": [40, 500]}
CFG = {"epochs": 3, "batch_size": 8, "lr": 1e-3, "adam_eps": 1e-7, "select_after": 0, "select_on": "val",
       "eval_batch_size": 64}  # fmt: skip


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(123)
    return {
        "train": (torch.randn(32, 40, 500, generator=g), torch.randint(0, 10, (32,), generator=g)),
        "val": (torch.randn(16, 40, 500, generator=g), torch.randint(0, 10, (16,), generator=g)),
    }


def fresh_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(SPEC)


def run(data: dict, workdir: Path, cfg: dict[str, Any] | None = None, seed: int = 0, **kw: Any):
    workdir.mkdir(parents=True, exist_ok=True)  # the store hands fit an existing work directory
    model = fresh_model()
    history = fit(model, data["train"], data["val"], cfg or CFG, workdir, seed=seed, device="cpu",
                  progress=False, **kw)  # fmt: skip
    return model, history


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_resume_after_interruption_ends_with_the_same_weights(
    data: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    full, full_history = run(data, tmp_path / "A")

    def interrupt(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(data, tmp_path / "B", on_epoch_end=interrupt)
    ckpt = torch.load(tmp_path / "B" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2

    with caplog.at_level(logging.INFO, logger="asc.train"):
        resumed, resumed_history = run(data, tmp_path / "B")  # a fresh model object, same seed
    assert "resuming" in caplog.text and "after epoch 2/3" in caplog.text
    assert [h["epoch"] for h in resumed_history["history"]] == [1, 2, 3]
    assert resumed_history["best_epoch"] == full_history["best_epoch"]
    assert resumed_history["best_select_acc"] == full_history["best_select_acc"]
    assert [h["loss"] for h in resumed_history["history"]] == [h["loss"] for h in full_history["history"]]
    assert_same_state(full, resumed)


def test_seeded_runs_are_identical_and_seeds_matter(data: dict, tmp_path: Path) -> None:
    one, h1 = run(data, tmp_path / "one")
    two, h2 = run(data, tmp_path / "two")
    assert_same_state(one, two)
    assert [h["loss"] for h in h1["history"]] == [h["loss"] for h in h2["history"]]
    other, _ = run(data, tmp_path / "other", seed=1)  # other shuffling and dropout
    assert not torch.equal(one.state_dict()["features.0.weight"], other.state_dict()["features.0.weight"])


def test_training_changes_the_weights(data: dict, tmp_path: Path) -> None:
    before = fresh_model().state_dict()
    after, history = run(data, tmp_path / "w", cfg={**CFG, "epochs": 1})
    assert not torch.equal(before["features.0.weight"], after.state_dict()["features.0.weight"])
    assert history["epochs"] == 1 and len(history["history"]) == 1
    assert history["train_seconds"] > 0


def test_selection_keeps_the_best_eligible_epoch(data: dict, tmp_path: Path) -> None:
    _, h = run(data, tmp_path / "a", cfg={**CFG, "select_after": 1})
    accs = {e["epoch"]: e["select_acc"] for e in h["history"]}
    assert h["best_epoch"] in (2, 3)
    assert h["best_select_acc"] == max(accs[2], accs[3])
    assert h["best_epoch"] == min(e for e in (2, 3) if accs[e] == h["best_select_acc"])  # first best wins
    # With no epoch after select_after, the last epoch is kept.
    model, h = run(data, tmp_path / "b", cfg={**CFG, "select_after": 50})
    assert h["best_epoch"] == 3
    last = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, last[name]), name


def test_predict_returns_probabilities(data: dict) -> None:
    probs = predict(fresh_model(), data["val"][0], batch_size=5)
    assert probs.shape == (16, 10) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_metrics_on_a_hand_made_matrix() -> None:
    probs = np.array(
        [
            [0.7, 0.2, 0.1],  # class 0, device a: right
            [0.1, 0.8, 0.1],  # class 1, device a: right
            [0.5, 0.4, 0.1],  # class 1, device b: wrong (says 0)
            [0.2, 0.2, 0.6],  # class 2, device b: right
            [1.0, 0.0, 0.0],  # class 2, device b: wrong with certainty (p_true = 0 → clipped to 1e-15)
        ]
    )
    labels = np.array([0, 1, 1, 2, 2])
    devices = ["a", "a", "b", "b", "b"]
    m = metrics(probs, labels, devices, ["x", "y", "z"])
    nll = -np.log([0.7, 0.8, 0.4, 0.6, 1e-15])
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["class_avg_accuracy"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["log_loss"] == pytest.approx(nll.mean())
    assert m["per_device"]["a"]["accuracy"] == pytest.approx(1.0)
    assert m["per_device"]["a"]["log_loss"] == pytest.approx(nll[:2].mean())
    assert m["per_device"]["b"]["accuracy"] == pytest.approx(1 / 3)
    assert m["per_device"]["b"]["log_loss"] == pytest.approx(nll[2:].mean())
    assert math.isclose(nll[4], 34.538776, rel_tol=1e-6)
    assert m["per_class"]["y"] == {"accuracy": pytest.approx(0.5), "log_loss": pytest.approx(nll[1:3].mean())}
    assert m["confusion"] == [[1, 0, 0], [1, 1, 0], [1, 0, 1]]  # rows: true class, columns: predicted


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda(data: dict, tmp_path: Path) -> None:
    def interrupt(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    model = fresh_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, data["train"], data["val"], CFG, tmp_path, device="cuda", on_epoch_end=interrupt)
    history = fit(fresh_model(), data["train"], data["val"], CFG, tmp_path, device="cuda")
    assert [h["epoch"] for h in history["history"]] == [1, 2, 3]
