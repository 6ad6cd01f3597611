"""The training loop: seeded reproducibility, exact resume after an interruption, model selection, metrics."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from asc.core.checks import NonFiniteError
from asc.nets.model import build_model
from asc.training.evaluate import metrics, predict, predict_many
from asc.training.train import Recipe, Run, train_many

# 20 frames (pools to match, as tests/test_distill.py): what these tests check (seeding, resume, selection, the
# loop's equality with textbook Adam) does not depend on the clip's length, and float64 convolutions are slow
SPEC = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]]}
RECIPE = Recipe(epochs=3, batch_size=8, lr=1e-3, adam_eps=1e-7, select_after=0)


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(123)
    return {
        "train": (torch.randn(30, 40, 20, generator=g), torch.randint(0, 10, (30,), generator=g)),
        "val": (torch.randn(16, 40, 20, generator=g), torch.randint(0, 10, (16,), generator=g)),
    }


def fresh_model(seed: int = 0, spec: dict | None = None) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(spec or SPEC)


def one(workdir: Path, recipe: Recipe = RECIPE, seed: int = 0, n: int = 30, **model_kw: Any) -> Run:
    return Run(fresh_model(**model_kw), torch.arange(n), seed=seed, workdir=workdir, recipe=recipe, label="r")


def run(data: dict, workdir: Path, recipe: Recipe = RECIPE, seed: int = 0, **kw: Any):
    """M = 1: what the old fit() did (30 clips at batch 8: the last batch is short)."""
    r = one(workdir, recipe, seed)
    history = train_many([r], data["train"], data["val"], progress=False, **kw)[0]
    return r.model, history


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_resume_after_interruption_ends_with_the_same_weights(
    data: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    full, full_history = run(data, tmp_path / "A")

    def interrupt(m: int, epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(data, tmp_path / "B", on_epoch_end=interrupt)
    ckpt = torch.load(tmp_path / "B" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2

    with caplog.at_level(logging.INFO, logger="asc.training.train"):
        resumed, resumed_history = run(data, tmp_path / "B")  # a fresh model object, same seed
    assert "resuming" in caplog.text and "after epoch 2/3" in caplog.text
    assert [h["epoch"] for h in resumed_history["history"]] == [1, 2, 3]
    assert resumed_history["best_epoch"] == full_history["best_epoch"]
    assert resumed_history["best_select_acc"] == full_history["best_select_acc"]
    assert [h["loss"] for h in resumed_history["history"]] == [h["loss"] for h in full_history["history"]]
    assert_same_state(full, resumed)  # alone, nothing is regrouped: identical bits


def test_a_checkpoint_of_another_run_is_refused(data: dict, tmp_path: Path) -> None:
    run(data, tmp_path / "A", recipe=replace(RECIPE, epochs=1))
    with pytest.raises(ValueError, match="written by another run"):
        run(data, tmp_path / "A", recipe=replace(RECIPE, epochs=1), seed=5)


def test_seeded_runs_are_identical_and_seeds_matter(data: dict, tmp_path: Path) -> None:
    one_, h1 = run(data, tmp_path / "one")
    two, h2 = run(data, tmp_path / "two")
    assert_same_state(one_, two)
    assert [h["loss"] for h in h1["history"]] == [h["loss"] for h in h2["history"]]
    other, _ = run(data, tmp_path / "other", seed=1)  # other shuffling and dropout
    assert not torch.equal(one_.state_dict()["features.0.weight"], other.state_dict()["features.0.weight"])


def test_training_changes_the_weights(data: dict, tmp_path: Path) -> None:
    before = fresh_model().state_dict()
    after, history = run(data, tmp_path / "w", recipe=replace(RECIPE, epochs=1))
    assert not torch.equal(before["features.0.weight"], after.state_dict()["features.0.weight"])
    assert history["epochs"] == 1 and len(history["history"]) == 1
    assert history["train_seconds"] > 0


def test_selection_keeps_the_best_eligible_epoch(data: dict, tmp_path: Path) -> None:
    _, h = run(data, tmp_path / "a", recipe=replace(RECIPE, select_after=1))
    accs = {e["epoch"]: e["select_acc"] for e in h["history"]}
    assert h["best_epoch"] in (2, 3)
    assert h["best_select_acc"] == max(accs[2], accs[3])
    assert h["best_epoch"] == min(e for e in (2, 3) if accs[e] == h["best_select_acc"])  # first best wins
    # With no epoch after select_after, the last epoch is kept.
    model, h = run(data, tmp_path / "b", recipe=replace(RECIPE, select_after=50))
    assert h["best_epoch"] == 3
    last = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, last[name]), name


def test_one_run_is_plain_adam_training(data: dict, tmp_path: Path) -> None:
    """M = 1 with dropout off equals a textbook PyTorch loop: nn modules, torch.optim.Adam, the run's shuffling
    (randperm from a generator seeded with the run's seed), last short batch included. float64, so the only
    differences are summation order (see tests/test_fused.py for why float32 would need a loose tolerance)."""
    spec = {**SPEC, "dropout": 0.0}
    x, y = data["train"][0].double(), data["train"][1]
    val = data["val"][0].double(), data["val"][1]
    r = Run(fresh_model(spec=spec).double(), torch.arange(5, 30), seed=3, workdir=tmp_path, recipe=RECIPE)
    train_many([r], (x, y), val, progress=False)
    ref = fresh_model(spec=spec).double().train()
    opt = torch.optim.Adam(ref.parameters(), lr=RECIPE.lr, eps=RECIPE.adam_eps)
    shuffle = torch.Generator().manual_seed(3)
    for _ in range(RECIPE.epochs):
        order = r.train_idx[torch.randperm(25, generator=shuffle)]
        for i in range(0, 25, RECIPE.batch_size):
            idx = order[i : i + RECIPE.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(ref(x[idx]), y[idx]).backward()
            opt.step()
    last = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    for name, value in ref.state_dict().items():
        # measured ≤ 2e-9 (Adam's 1/sqrt(v) amplifies the float64 reordering); a bug moves weights by ~lr = 1e-3
        torch.testing.assert_close(last[name], value, rtol=1e-7, atol=1e-8, msg=name)


def test_non_finite_loss_stops_that_run_only_and_names_it(data: dict, tmp_path: Path) -> None:
    x = data["train"][0].clone()
    x[20:] = float("inf")  # only the second run trains on these clips
    good = one(tmp_path / "good", n=20)
    bad = Run(
        fresh_model(), torch.arange(20, 30), seed=0, workdir=tmp_path / "bad", recipe=RECIPE, label="bad-run"
    )
    with pytest.raises(NonFiniteError, match="bad-run"):
        train_many([good, bad], (x, data["train"][1]), data["val"], progress=False)
    assert (
        torch.load(tmp_path / "good" / "last.pt", weights_only=True)["epoch"] == 3
    )  # the other one finished
    assert not (tmp_path / "bad" / "last.pt").exists()  # nothing non-finite was saved


def test_runs_of_one_call_must_share_widths_and_batch_size(data: dict, tmp_path: Path) -> None:
    a = one(tmp_path / "a")
    b = Run(fresh_model(spec={**SPEC, "widths": [4, 4, 6]}), torch.arange(8), 0, tmp_path / "b", RECIPE)
    with pytest.raises(ValueError, match="share widths and batch_size"):
        train_many([a, b], data["train"], data["val"])
    c = one(tmp_path / "c", recipe=replace(RECIPE, batch_size=4))
    with pytest.raises(ValueError, match="share widths and batch_size"):
        train_many([a, c], data["train"], data["val"])
    with pytest.raises(ValueError, match="precision"):
        train_many([a], data["train"], data["val"], precision="fp8")


def test_compiled_forward_gives_the_same_training(data: dict, tmp_path: Path) -> None:
    """The torch.compile capture (graph breaks, in-place BN statistics) checked with the eager backend: no C++
    compiler needed, and the captured graph must replay the same ops, so the bits are identical."""
    plain, h_plain = run(data, tmp_path / "plain", recipe=replace(RECIPE, epochs=1))
    compiled, h_comp = run(data, tmp_path / "compiled", recipe=replace(RECIPE, epochs=1), compile="eager")
    assert_same_state(plain, compiled)
    assert h_plain["history"][0]["loss"] == h_comp["history"][0]["loss"]


def test_predict_many_equals_predict(data: dict) -> None:
    models = [fresh_model(0), fresh_model(1), fresh_model(2, spec={**SPEC, "widths": [2, 4, 8]})]
    many = predict_many(models, data["val"][0], batch_size=5)
    for model, probs in zip(models, many, strict=True):
        np.testing.assert_allclose(probs, predict(model, data["val"][0], batch_size=7), rtol=1e-5, atol=1e-6)


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
    def interrupt(m: int, epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(data, tmp_path, device="cuda", on_epoch_end=interrupt)
    model, history = run(data, tmp_path, device="cuda")
    assert [h["epoch"] for h in history["history"]] == [1, 2, 3]
    assert next(model.parameters()).device.type == "cpu"  # selected weights come back on the CPU
