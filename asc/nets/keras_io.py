"""Read a Keras 2.x HDF5 model of the DCASE21 network family with h5py only (no TensorFlow).

A file written by Keras ``model.save("x.h5")`` holds the architecture as JSON (root attribute ``model_config``)
and the weights under ``model_weights/<layer>/<layer>/<name>:0`` (each layer group lists its datasets in the
``weight_names`` attribute). The layer list must be the DCASE 2021 baseline family that :class:`BaselineCNN`
builds: blocks of Conv2D ('same', stride 1) → BatchNormalization → ReLU [→ MaxPooling2D] [→ Dropout], then
Flatten → Dense + ReLU [→ Dropout] → Dense (softmax or linear). Widths, kernel, pools, dense size, classes, input
shape and BN epsilon/momentum are all read from the file, so the authors' pruned networks load at their widths.

Layout conversions: conv kernels (kh, kw, cin, cout) → (cout, cin, kh, kw); dense kernels (in, out) → (out, in);
and Keras flattens channels-last (H, W, C) while we flatten (C, H, W), so the first dense layer's input rows are
permuted (:func:`flatten_permutation`). Keras ends in a softmax, we output logits: softmax(ours) == Keras.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

from asc.nets.model import BaselineCNN, normalise_spec

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FAMILY = "Conv2D-BN-ReLU[-MaxPool][-Dropout] blocks, Flatten, Dense-ReLU[-Dropout], Dense"


class KerasFormatError(ValueError):
    """The file is not a Keras HDF5 model of the DCASE21 family; the message names what differs."""


def is_hdf5(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def flatten_permutation(channels: int, height: int, width: int) -> np.ndarray:
    """``perm[j]`` = the Keras (H, W, C)-flatten index of our (C, H, W)-flatten index ``j``."""
    c, h, w = np.meshgrid(np.arange(channels), np.arange(height), np.arange(width), indexing="ij")
    return ((h * width + w) * channels + c).reshape(-1)


def flatten_grid(spec: dict[str, Any]) -> tuple[int, int]:
    """(height, width) of the last conv block's output: the input shrunk by every pool (floor, as 'valid')."""
    height, width = spec["input_shape"]
    for pool in spec["pools"]:
        if pool is not None:
            height, width = height // pool[0], width // pool[1]
    return height, width


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def _layer_configs(f, path: Path) -> list[dict[str, Any]]:
    if "model_config" not in f.attrs:
        hint = " (a weights-only file from save_weights)" if "layer_names" in f.attrs else ""
        raise KerasFormatError(
            f"{path} has no `model_config` attribute{hint}: save the whole model with Keras "
            "`model.save('model.h5')` so its widths and pools can be read"
        )
    config = json.loads(_text(f.attrs["model_config"]))
    inner = config.get("config", {})
    layers = inner if isinstance(inner, list) else inner.get("layers", [])  # Keras 2.2 Sequential: a list
    return [layer for layer in layers if layer.get("class_name") != "InputLayer"] or _fail(
        path, "the model config lists no layers"
    )


def _fail(path: Path, what: str) -> NoReturn:
    raise KerasFormatError(f"{path} is not a DCASE21-family Keras model ({FAMILY}): {what}")


def _input_shape(f, layers: list[dict[str, Any]], path: Path) -> list[int]:
    config = json.loads(_text(f.attrs["model_config"])).get("config", {})
    candidates = [layers[0]["config"]]
    if isinstance(config, dict):
        candidates += [lay.get("config", {}) for lay in config.get("layers", [])] + [config]
    for cfg in candidates:
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or cfg.get("build_input_shape")
        if shape:
            if len(shape) != 4 or shape[3] != 1:
                _fail(path, f"input shape {shape} is not (batch, mel, frames, 1)")
            return [int(shape[1]), int(shape[2])]
    _fail(path, "no input shape (batch_input_shape) in the model config")


class _Chain:
    """The layer configs as a queue, with one error style for 'expected X at layer i'."""

    def __init__(self, layers: list[dict[str, Any]], path: Path):
        self.layers, self.i, self.path = layers, 0, path

    def peek(self) -> str | None:
        return self.layers[self.i]["class_name"] if self.i < len(self.layers) else None

    def take(self, *classes: str) -> dict[str, Any]:
        got = self.peek()
        if got not in classes:
            where = f"layer {self.i + 1} is {got}" if got else "the model ends"
            _fail(self.path, f"{where} where {' or '.join(classes)} was expected")
        cfg = dict(self.layers[self.i]["config"])
        self.i += 1
        return cfg

    def take_if(self, cls: str) -> dict[str, Any] | None:
        return self.take(cls) if self.peek() == cls else None

    def relu(self, owner: dict[str, Any]) -> None:
        """A ReLU either inside ``owner`` (activation='relu') or as the next Activation/ReLU layer."""
        if owner.get("activation") == "relu":
            return
        if owner.get("activation", "linear") != "linear":
            _fail(self.path, f"layer {owner['name']!r} has activation {owner['activation']!r}, expected ReLU")
        act = self.take("Activation", "ReLU")
        if act.get("activation", "relu") != "relu" or act.get("max_value") or act.get("negative_slope"):
            _fail(self.path, f"layer {act['name']!r} is not a plain ReLU")

    def require(self, cfg: dict[str, Any], key: str, allowed: list[Any], default: Any) -> None:
        value = cfg.get(key, default)
        if value not in allowed:
            _fail(self.path, f"layer {cfg['name']!r} has {key}={value!r}, expected {allowed[0]!r}")


def _parse(layers: list[dict[str, Any]], input_shape: list[int], path: Path) -> tuple[dict, dict[str, list]]:
    """(spec, names): the BaselineCNN spec and the Keras layer names of its convs, BNs and the two denses."""
    chain = _Chain(layers, path)
    blocks = []
    while chain.peek() == "Conv2D":
        blocks.append(_conv_block(chain, path))
    if not blocks:
        _fail(path, f"layer 1 is {chain.peek()}, expected Conv2D")
    kernels = {b["conv"]["kernel_size"][0] for b in blocks}
    eps = {float(b["bn"].get("epsilon", 1e-3)) for b in blocks}
    momenta = {float(b["bn"].get("momentum", 0.99)) for b in blocks}
    for what, values in (
        ("kernel sizes", kernels),
        ("BatchNorm epsilons", eps),
        ("BatchNorm momenta", momenta),
    ):
        if len(values) > 1:
            _fail(path, f"the conv blocks use different {what} {sorted(values)}; BaselineCNN has one")
    hidden, out, head_dropout = _head(chain, path)
    dropouts = [b["dropout"] for b in blocks if b["dropout"] is not None] + head_dropout
    spec = {
        "widths": [int(b["conv"]["filters"]) for b in blocks],
        "kernel": kernels.pop(),
        "pools": [b["pool"] for b in blocks],
        "dense": int(hidden["units"]),
        "n_classes": int(out["units"]),
        "input_shape": input_shape,
        "bn_eps": eps.pop(),
        "bn_momentum": 1.0 - momenta.pop(),
        "dropout": dropouts[0] if dropouts else 0.3,
    }
    names = {"conv": [b["conv"]["name"] for b in blocks], "bn": [b["bn"]["name"] for b in blocks]}
    return normalise_spec(spec), {**names, "dense": [hidden["name"], out["name"]]}


def _conv_block(chain: _Chain, path: Path) -> dict[str, Any]:
    """One conv block: Conv2D (same padding, stride 1, a square odd kernel, no activation), BatchNormalization
    over the channels, ReLU, an optional MaxPooling2D and Dropout: {"conv", "bn", "pool" (its size or None),
    "dropout" (its rate or None)}."""
    conv = chain.take("Conv2D")
    for key, allowed, default in (
        ("padding", ["same"], "same"),
        ("strides", [[1, 1], (1, 1)], [1, 1]),
        ("dilation_rate", [[1, 1], (1, 1)], [1, 1]),
        ("groups", [1], 1),
        ("data_format", ["channels_last", None], "channels_last"),
    ):
        chain.require(conv, key, allowed, default)
    kh, kw = conv["kernel_size"]
    if kh != kw or kh % 2 == 0:
        _fail(path, f"layer {conv['name']!r} has kernel_size {[kh, kw]}, expected a square odd kernel")
    if conv.get("activation", "linear") != "linear":
        _fail(path, f"layer {conv['name']!r} has activation {conv['activation']!r} before its BatchNorm")
    bn = chain.take("BatchNormalization")
    axis = bn.get("axis", -1)
    if (axis[0] if isinstance(axis, list) else axis) not in (-1, 3):
        _fail(path, f"layer {bn['name']!r} normalises axis {axis}, expected the channel axis (-1)")
    chain.relu(bn)
    pool = chain.take_if("MaxPooling2D")
    size = None
    if pool is not None:
        size = [int(s) for s in pool["pool_size"]]
        chain.require(pool, "padding", ["valid"], "valid")
        chain.require(pool, "strides", [size, tuple(size), None], None)
    drop = chain.take_if("Dropout")
    return {"conv": conv, "bn": bn, "pool": size, "dropout": None if drop is None else float(drop["rate"])}


def _head(chain: _Chain, path: Path) -> tuple[dict, dict, list[float]]:
    """The classifier after the conv blocks: Flatten, Dense + ReLU, an optional Dropout, the output Dense
    (softmax or linear, then an optional softmax Activation) and nothing after it: (hidden, out, [dropout rate])."""
    chain.require(chain.take("Flatten"), "data_format", ["channels_last", None], "channels_last")
    hidden = chain.take("Dense")
    chain.relu(hidden)
    drop = chain.take_if("Dropout")
    out = chain.take("Dense")
    if out.get("activation", "linear") not in ("softmax", "linear"):
        _fail(path, f"layer {out['name']!r} has activation {out['activation']!r}, expected softmax")
    act = chain.take_if("Activation")
    if act is not None and act.get("activation") != "softmax":
        _fail(
            path, f"layer {act['name']!r} is {act.get('activation')!r}, expected softmax after the last Dense"
        )
    if chain.peek() is not None:
        _fail(path, f"layer {chain.i + 1} ({chain.peek()}) follows the output Dense layer")
    return hidden, out, [] if drop is None else [float(drop["rate"])]


def _weights(f, layer: str, path: Path) -> dict[str, np.ndarray]:
    """{'kernel': array, 'bias': ..., 'gamma': ...} of one layer, found through its ``weight_names``."""
    root = f["model_weights"] if "model_weights" in f else f
    if layer not in root:
        _fail(path, f"no weights group model_weights/{layer}")
    group = root[layer]
    names = [_text(n) for n in group.attrs.get("weight_names", [])]
    if not names:  # older writers: take every dataset below the layer group
        group.visit(lambda name: names.append(name) if hasattr(group[name], "shape") else None)
    return {n.split("/")[-1].split(":")[0]: np.asarray(group[n], dtype=np.float32) for n in names}


def _assign(param: torch.Tensor, value: np.ndarray, what: str, path: Path) -> None:
    if tuple(param.shape) != value.shape:
        _fail(path, f"{what} has shape {value.shape}, the config implies {tuple(param.shape)}")
    param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


@torch.no_grad()
def load_keras_h5(path: str | Path) -> tuple[BaselineCNN, dict[str, Any]]:
    """Build the BaselineCNN a Keras HDF5 model describes and load its weights; returns (model, extra)."""
    import h5py  # a core dependency, imported here so `asc` starts without touching HDF5

    path = Path(path)
    with h5py.File(path, "r") as f:
        layers = _layer_configs(f, path)
        spec, names = _parse(layers, _input_shape(f, layers, path), path)
        model = BaselineCNN(spec)
        bn_modules = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
        for conv_name, bn_name, conv, bn in zip(
            names["conv"], names["bn"], model.convs().values(), bn_modules, strict=True
        ):
            w = _weights(f, conv_name, path)
            _assign(conv.weight, w["kernel"].transpose(3, 2, 0, 1), f"{conv_name} kernel", path)
            _assign(
                conv.bias, w.get("bias", np.zeros(conv.out_channels, np.float32)), f"{conv_name} bias", path
            )
            b = _weights(f, bn_name, path)
            ones, zeros = np.ones(bn.num_features, np.float32), np.zeros(bn.num_features, np.float32)
            for param, key, default in (
                (bn.weight, "gamma", ones),
                (bn.bias, "beta", zeros),
                (bn.running_mean, "moving_mean", None),
                (bn.running_var, "moving_variance", None),
            ):
                if key not in b and default is None:
                    _fail(path, f"layer {bn_name!r} has no {key} weights")
                _assign(param, b.get(key, default), f"{bn_name} {key}", path)
        hidden, out = model.classifier[1], model.classifier[4]
        last_conv = list(model.convs().values())[-1]
        grid = flatten_grid(spec)
        perm = flatten_permutation(last_conv.out_channels, *grid)
        w_hidden, w_out = _weights(f, names["dense"][0], path), _weights(f, names["dense"][1], path)
        if w_hidden["kernel"].shape[0] != perm.size:
            _fail(
                path,
                f"{names['dense'][0]} has {w_hidden['kernel'].shape[0]} inputs, but the conv/pool "
                f"layers flatten to {perm.size} ({last_conv.out_channels} × {grid[0]} × {grid[1]})",
            )
        _assign(hidden.weight, w_hidden["kernel"][perm].T, f"{names['dense'][0]} kernel", path)
        _assign(out.weight, w_out["kernel"].T, f"{names['dense'][1]} kernel", path)
        for layer, name, w in ((hidden, names["dense"][0], w_hidden), (out, names["dense"][1], w_out)):
            _assign(layer.bias, w.get("bias", np.zeros(layer.out_features, np.float32)), f"{name} bias", path)
        extra = {
            "source": "keras_h5",
            "keras_version": _text(f.attrs.get("keras_version", "")),
            "keras_layers": [lay["config"]["name"] for lay in layers],
            "keras_params": int(sum(v.size for n in _all_layers(f) for v in _weights(f, n, path).values())),
        }
    return model.eval(), extra


def _all_layers(f) -> list[str]:
    root = f["model_weights"] if "model_weights" in f else f
    names = [_text(n) for n in root.attrs.get("layer_names", list(root))]
    return [n for n in names if n in root]
