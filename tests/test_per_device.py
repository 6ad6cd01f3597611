"""Per-device models (DCASE 2025): subsets per device, one fused train_many call fine-tuning a copy per device,
and evaluation with device routing (unknown devices -> the general model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from model_fixtures import randomised_model

from asc.core.errors import InputError
from asc.training.evaluate import predict
from asc.training.per_device import (
    KNOWN_DEVICES,
    device_runs,
    device_subsets,
    last_epoch,
    predict_routed,
    routed_metrics,
)
from asc.training.train import Recipe, train_many

TINY = {
    "widths": [4, 4, 4],
    "kernel": 3,
    "pools": [None, [2, 2], [5, 5]],
    "input_shape": [20, 20],
    "dense": 8,
}
DEVICES = ["a", "b", "a", "c", "s1", "s2", "s3", "a"] * 3  # 24 clips: a 9, every other known device 3


def test_device_subsets():
    pool = pd.DataFrame({"device": DEVICES + ["s4"]})
    subsets = device_subsets(pool)
    assert list(subsets) == list(KNOWN_DEVICES) and subsets["a"].tolist() == [0, 2, 7, 8, 10, 15, 16, 18, 23]
    assert sum(len(p) for p in subsets.values()) == 24  # s4 (unseen in training) gets no model
    assert list(device_subsets(pool, ["c", "s9"])) == ["c"]
    with pytest.raises(InputError, match="none of the devices"):
        device_subsets(pool, ["s9"])


def test_one_fused_call_fine_tunes_a_copy_per_device(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 20, 20, generator=g), torch.randint(0, 10, (24,), generator=g)
    val = torch.randn(4, 20, 20, generator=g), torch.randint(0, 10, (4,), generator=g)
    general = randomised_model(TINY)  # the mechanism is shape-agnostic; a tiny net keeps the test fast
    before = {k: v.clone() for k, v in general.state_dict().items()}
    recipe = last_epoch(Recipe(epochs=1, batch_size=4, lr=1e-2, adam_eps=1e-7, select_after=0))
    assert recipe.select_after == 1
    subsets = device_subsets(pd.DataFrame({"device": DEVICES}))
    runs = device_runs(general, subsets, recipe=recipe, seed=3, workdir=tmp_path / "fused", label="cosine")
    history = train_many(runs, (x, y), val, progress=False)
    assert [r.label for r in runs] == [f"cosine device {d}" for d in KNOWN_DEVICES]
    assert all(h["best_epoch"] == 1 for h in history)  # the last epoch is kept, as the 2025 baseline does
    for key, value in general.state_dict().items():  # the general model is untouched
        assert torch.equal(value, before[key]), key
    out = [r.model.state_dict()["classifier.4.weight"] for r in runs]
    assert all(not torch.equal(w, before["classifier.4.weight"]) for w in out)
    assert not torch.equal(out[0], out[1])  # each trained on its own device's clips
    alone = device_runs(general, {"b": subsets["b"]}, recipe=recipe, seed=3, workdir=tmp_path / "alone")
    train_many(alone, (x, y), val, progress=False)
    for key, value in alone[0].model.state_dict().items():  # fused = that device's model trained on its own
        assert torch.equal(value, runs[1].model.state_dict()[key]), key


def test_routing_sends_unknown_devices_to_the_general_model():
    general, dev_a, dev_b = (randomised_model(TINY, seed=s) for s in (0, 1, 2))
    x = torch.randn(6, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    devices = ["a", "s4", "b", "a", "s6", "b"]
    probs, route = predict_routed(general, {"a": dev_a, "b": dev_b}, x, devices, batch_size=2)
    assert route.tolist() == ["a", "", "b", "a", "", "b"]
    np.testing.assert_allclose(probs[[0, 3]], predict(dev_a, x[[0, 3]]), atol=1e-7)
    np.testing.assert_allclose(probs[[2, 5]], predict(dev_b, x[[2, 5]]), atol=1e-7)
    np.testing.assert_allclose(probs[[1, 4]], predict(general, x[[1, 4]]), atol=1e-7)
    labels = probs.argmax(1)
    labels[1] = (labels[1] + 1) % 10  # one wrong answer, on s4
    scores = routed_metrics(
        general, {"a": dev_a, "b": dev_b}, x, labels, devices, [str(c) for c in range(10)]
    )
    assert scores["accuracy"] == pytest.approx(5 / 6) and scores["per_device"]["s4"]["accuracy"] == 0.0
    assert scores["routed_to"] == {"a": "a", "b": "b", "s4": "general", "s6": "general"}
    with pytest.raises(ValueError, match="5 device labels for 6 clips"):
        predict_routed(general, {}, x, devices[:5])
