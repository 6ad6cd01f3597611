"""Write a BaselineCNN as a Keras 2.x HDF5 model (``model.save("x.h5")`` layout) with h5py: the inverse of
asc.nets.keras_io's mapping, so tests can build the authors' kind of file without TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from torch import nn

from asc.nets.keras_io import flatten_grid, flatten_permutation


def _layer(cls: str, name: str, **config) -> dict:
    return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def keras_layers(model: nn.Module, *, relu_in_dense: bool = True) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """[(layer config, {weight name: Keras-layout array})] in Keras Sequential order and naming."""
    s = model.spec
    counts: dict[str, int] = {}

    def name(base: str) -> str:  # conv2d, conv2d_1, ... as tf.keras names Sequential layers
        n = counts.get(base, 0)
        counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    convs = list(model.convs().values())
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    out: list[tuple[dict, dict]] = []
    for i, (conv, bn, pool) in enumerate(zip(convs, bns, s["pools"], strict=True)):
        cfg = {
            "filters": conv.out_channels,
            "kernel_size": [s["kernel"]] * 2,
            "strides": [1, 1],
            "padding": "same",
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "activation": "linear",
            "use_bias": True,
        }
        if i == 0:
            cfg["batch_input_shape"] = [None, *s["input_shape"], 1]
        kernel = conv.weight.detach().numpy().transpose(2, 3, 1, 0)
        out.append(
            (_layer("Conv2D", name("conv2d"), **cfg), {"kernel": kernel, "bias": conv.bias.detach().numpy()})
        )
        bn_w = {
            "gamma": bn.weight,
            "beta": bn.bias,
            "moving_mean": bn.running_mean,
            "moving_variance": bn.running_var,
        }
        out.append(
            (
                _layer(
                    "BatchNormalization",
                    name("batch_normalization"),
                    axis=[3],
                    epsilon=bn.eps,
                    momentum=1 - bn.momentum,
                ),
                {k: v.detach().numpy() for k, v in bn_w.items()},
            )
        )
        out.append((_layer("Activation", name("activation"), activation="relu"), {}))
        if pool is not None:
            out.append(
                (
                    _layer(
                        "MaxPooling2D",
                        name("max_pooling2d"),
                        pool_size=pool,
                        strides=pool,
                        padding="valid",
                        data_format="channels_last",
                    ),
                    {},
                )
            )
            out.append((_layer("Dropout", name("dropout"), rate=s["dropout"]), {}))
    out.append((_layer("Flatten", name("flatten"), data_format="channels_last"), {}))
    hidden, last = model.classifier[1], model.classifier[4]
    grid = flatten_grid(s)
    perm = flatten_permutation(convs[-1].out_channels, *grid)
    kernel = np.empty((hidden.in_features, hidden.out_features), np.float32)
    kernel[perm] = hidden.weight.detach().numpy().T  # Keras row perm[j] holds our column j
    act = "relu" if relu_in_dense else "linear"
    out.append(
        (
            _layer("Dense", name("dense"), units=hidden.out_features, activation=act),
            {"kernel": kernel, "bias": hidden.bias.detach().numpy()},
        )
    )
    if not relu_in_dense:
        out.append((_layer("Activation", name("activation"), activation="relu"), {}))
    out.append((_layer("Dropout", name("dropout"), rate=s["dropout"]), {}))
    out.append(
        (
            _layer("Dense", name("dense"), units=last.out_features, activation="softmax"),
            {"kernel": last.weight.detach().numpy().T, "bias": last.bias.detach().numpy()},
        )
    )
    return out


def write_keras_h5(path: Path, layers: list[tuple[dict, dict[str, np.ndarray]]], **root_attrs) -> Path:
    """Write ``layers`` (from :func:`keras_layers`, possibly edited) as a Keras 2.x ``model.save`` HDF5 file."""
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [c for c, _ in layers]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.10.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        for key, value in root_attrs.items():
            f.attrs[key] = value
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([c["config"]["name"].encode() for c, _ in layers])
        for cfg, weights in layers:
            lname = cfg["config"]["name"]
            lgroup = group.create_group(lname)
            lgroup.attrs["weight_names"] = np.array([f"{lname}/{k}:0".encode() for k in weights], dtype="S")
            for key, value in weights.items():
                lgroup.create_dataset(f"{lname}/{key}:0", data=np.asarray(value, np.float32))
    return path
