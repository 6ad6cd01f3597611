"""Keras 2.x HDF5 import without TensorFlow: layout conversions, the flatten permutation checked against a
numpy forward pass with Keras semantics, widths/pools read from the file, and one clear error per mismatch."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
import torch
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc.data.fingerprint import file_digest
from asc.nets.complexity import complexity
from asc.nets.keras_io import KerasFormatError, flatten_permutation
from asc.nets.model import save_model
from asc.nets.model_file import read_model_file as load_model

# Small but with a 2 x 5 grid before the Flatten, so a wrong (H, W, C) vs (C, H, W) order cannot pass.
SMALL = {
    "widths": [5, 4, 6],
    "input_shape": [20, 40],
    "pools": [None, [2, 2], [5, 4]],
    "dense": 7,
    "n_classes": 3,
    "bn_eps": 1e-3,
}


def keras_forward(layers, x: np.ndarray) -> np.ndarray:
    """Keras inference semantics in numpy on the Keras-layout arrays: channels-last 'same' conv, BN with
    moving statistics, ReLU, max-pool, Flatten in (H, W, C) order, dense layers, softmax."""
    h = x[..., None].astype(np.float64)  # (batch, H, W, 1)
    for cfg, w in layers:
        cls, c = cfg["class_name"], cfg["config"]
        if cls == "Conv2D":
            k = w["kernel"].shape[0]
            pad = np.pad(h, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
            out = np.zeros((*h.shape[:3], w["kernel"].shape[3]))
            for dy in range(k):
                for dx in range(k):
                    out += pad[:, dy : dy + h.shape[1], dx : dx + h.shape[2], :] @ w["kernel"][dy, dx]
            h = out + w["bias"]
        elif cls == "BatchNormalization":
            h = w["gamma"] * (h - w["moving_mean"]) / np.sqrt(w["moving_variance"] + c["epsilon"]) + w["beta"]
        elif cls == "Activation":
            h = np.maximum(h, 0)
        elif cls == "MaxPooling2D":
            (ph, pw), (n, hh, ww, ch) = c["pool_size"], h.shape
            h = (
                h[:, : hh // ph * ph, : ww // pw * pw]
                .reshape(n, hh // ph, ph, ww // pw, pw, ch)
                .max(axis=(2, 4))
            )
        elif cls == "Flatten":
            h = h.reshape(h.shape[0], -1)  # row-major over (H, W, C): Keras channels-last order
        elif cls == "Dense":
            h = h @ w["kernel"] + w["bias"]
            if c["activation"] == "relu":
                h = np.maximum(h, 0)
            elif c["activation"] == "softmax":
                h = np.exp(h - h.max(axis=1, keepdims=True))
                h /= h.sum(axis=1, keepdims=True)
    return h


def random_keras_weights(layers, seed: int = 0):
    """The same layers with fresh random Keras-layout weights (no torch mapping involved in making them)."""
    rng = np.random.default_rng(seed)
    out = []
    for cfg, w in layers:
        new = {k: rng.normal(0, 0.3, v.shape).astype(np.float32) for k, v in w.items()}
        if "moving_variance" in new:
            new["moving_variance"] = rng.uniform(0.5, 2.0, w["moving_variance"].shape).astype(np.float32)
        out.append((cfg, new))
    return out


def test_flatten_permutation_matches_keras_order():
    perm = flatten_permutation(3, 2, 5)
    hwc = np.arange(30).reshape(2, 5, 3)  # value = Keras flatten index of (h, w, c)
    assert np.array_equal(perm, hwc.transpose(2, 0, 1).reshape(-1))
    assert sorted(perm) == list(range(30))


@pytest.mark.parametrize("relu_in_dense", [True, False])
def test_keras_forward_pass_matches(tmp_path, relu_in_dense):
    layers = random_keras_weights(keras_layers(randomised_model(SMALL), relu_in_dense=relu_in_dense))
    path = write_keras_h5(tmp_path / "m.h5", layers)
    model, extra = load_model(path)
    x = np.random.default_rng(1).normal(size=(3, *SMALL["input_shape"])).astype(np.float32)
    with torch.no_grad():
        ours = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    np.testing.assert_allclose(ours, keras_forward(layers, x), atol=1e-5)
    assert extra["source"] == "keras_h5" and extra["keras_layers"][0] == "conv2d"


def test_round_trip_reads_spec_and_weights(tmp_path):
    pruned = dict(SMALL, widths=[3, 2, 4], bn_eps=2e-3, bn_momentum=0.05, dropout=0.25)
    original = randomised_model(pruned)
    model, extra = load_model(write_keras_h5(tmp_path / "m.h5", keras_layers(original)))
    for key in ("widths", "pools", "dense", "n_classes", "input_shape", "kernel", "dropout"):
        assert model.spec[key] == original.spec[key], key
    assert model.spec["bn_eps"] == pytest.approx(2e-3) and model.spec["bn_momentum"] == pytest.approx(0.05)
    for key, value in original.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(model.state_dict()[key], value, msg=key)
    assert extra["keras_params"] == complexity(original)["params_keras"]


def test_full_baseline_keras_params(tmp_path):
    model, extra = load_model(
        write_keras_h5(tmp_path / "unpruned_model.h5", keras_layers(randomised_model()))
    )
    assert model.spec["widths"] == [16, 16, 32] and model.spec["pools"] == [None, [5, 5], [4, 100]]
    assert extra["keras_params"] == complexity(model)["params_keras"] == 46246


def test_old_keras_layouts(tmp_path):
    # Keras 2.2 Sequential configs are a bare list, and older writers leave weight_names out.
    layers = keras_layers(randomised_model(SMALL))
    path = write_keras_h5(tmp_path / "old.h5", layers)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": [c for c, _ in layers]})
        for group in f["model_weights"].values():
            del group.attrs["weight_names"]
    model, _ = load_model(path)
    assert model.spec["widths"] == SMALL["widths"]


def _edit(layers, index: int, **changes):
    cfg, w = layers[index]
    return layers[:index] + [({**cfg, "config": {**cfg["config"], **changes}}, w)] + layers[index + 1 :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ls: _edit(ls, 0, kernel_size=[3, 5]), r"'conv2d' has kernel_size \[3, 5\]"),
        (lambda ls: _edit(ls, 0, padding="valid"), r"'conv2d' has padding='valid', expected 'same'"),
        (lambda ls: ls[:1] + ls[2:], "layer 2 is Activation where BatchNormalization was expected"),
        (lambda ls: _edit(ls + [ls[-1]], len(ls), name="dense_9"), "follows the output Dense layer"),
        (lambda ls: _edit(ls, 6, pool_size=[4, 4], strides=[4, 4]), "flatten to"),
        (lambda ls: _edit(ls, 0, batch_input_shape=[None, 20, 40, 3]), r"input shape .* is not"),
    ],
)
def test_other_architectures_are_refused(tmp_path, change, message):
    path = write_keras_h5(tmp_path / "other.h5", change(keras_layers(randomised_model(SMALL))))
    with pytest.raises(KerasFormatError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value) and "DCASE21-family" in str(err.value)


def test_weights_only_file_is_refused(tmp_path):
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"conv2d"])
    with pytest.raises(KerasFormatError, match=r"model.save\('model.h5'\)"):
        load_model(path)


def test_keras3_archive_is_refused(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="Keras 3"):
        load_model(tmp_path / "m.keras")


def test_file_digest(tmp_path):
    save_model(randomised_model(SMALL), tmp_path / "a.pt")
    data = (tmp_path / "a.pt").read_bytes()
    assert file_digest(tmp_path / "a.pt") == hashlib.sha256(data).hexdigest()
    (tmp_path / "b.pt").write_bytes(data + b"\0")
    assert file_digest(tmp_path / "b.pt") != file_digest(tmp_path / "a.pt")
    assert load_model(tmp_path / "a.pt")[0].spec["widths"] == SMALL["widths"]  # our checkpoints still load


def test_check_script(tmp_path, repo_root):
    import os
    import subprocess
    import sys

    good = write_keras_h5(tmp_path / "C1_best_model_dcase2021.h5", keras_layers(randomised_model(SMALL)))
    bad = write_keras_h5(
        tmp_path / "bad.h5", _edit(keras_layers(randomised_model(SMALL)), 0, padding="valid")
    )
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    run = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "check_keras_h5.py"), str(good), str(bad), "--no-keras"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert (
        "widths [5, 4, 6]" in run.stdout
        and "padding='valid'" in run.stdout
        and "1/2 file(s) passed" in run.stdout
    )
    params = complexity(randomised_model(SMALL))["params_keras"]
    assert f"Keras params {params:,} (file) / {params:,} (asc)" in run.stdout
