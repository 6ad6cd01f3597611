"""Checkpoints of zoo networks that load safely, and a user's pretrained weights.

An asc checkpoint holds the architecture (``architecture``: the family name, ``arguments``: its constructor
keywords), the pruning history (a list, empty when unpruned; written by asc/nets/history.py and replayed with its
``replay(model, history)`` on the rebuilt network) and the weights. :func:`load` reads it with
``torch.load(weights_only=True)`` — no pickled code runs — rebuilds the network, replays the history and loads the
weights; a history or state dict that does not fit is refused in one line (ValueError). Checkpoints of the
DCASE21/22 family written by asc/nets/model.py (``spec`` + ``state_dict``) load as before.

:func:`read_pretrained` takes, for ``train.init_from``: a PANNs checkpoint (``{'model': state_dict}``, its
torchlibrosa ``spectrogram_extractor.*`` / ``logmel_extractor.*`` constants dropped: asc computes the features), a
bare state dict or asc checkpoint of any zoo network, or the authors' Keras VGGish_Net ``.h5``; each is checked
against the network the ``model`` config builds (layer names, shapes, classes) and refused in one line naming
the first difference.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asc.core.atomic import atomic_path
from asc.nets import build, family_of, plain

FORMAT = "asc-net-1"
FRONT_END_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")  # PANNs' torchlibrosa constants
VGGISH_KERAS = {  # our module → the authors' Keras layer (Fine_tuning_VGGish_Net.py)
    "conv1": "conv1",
    "conv2": "conv2",
    "conv3_1": "conv3/conv3_1",
    "conv3_2": "conv3/conv3_2",
    "conv4_1": "conv4/conv4_1",
    "conv4_2": "conv4/conv4_2",
    "fc1": "vggish_fc1/fc1_1",
    "fc2": "vggish_dense2",
    "out": "vggish_out",
}


def save(
    model: torch.nn.Module, path: str | Path, spec: Mapping[str, Any], history: Sequence = (), **extra
) -> None:
    """Atomically write the network of ``spec`` (a ``model`` config node), its pruning ``history`` and weights."""
    fam = family_of(spec)
    blob = {
        "format": FORMAT,
        "architecture": fam.name,
        "arguments": plain(fam.kwargs(spec)),
        "history": [list(h) if isinstance(h, tuple) else h for h in history],
        "state_dict": model.state_dict(),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(network, everything else) from a checkpoint of :func:`save` (or asc/nets/model.py's DCASE format)."""
    path = Path(path)
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(blob, dict) and "spec" in blob and "state_dict" in blob:
        from asc.nets.model import load_model

        return load_model(path, map_location)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an asc checkpoint (neither a DCASE-family spec and state_dict nor format {FORMAT!r}: "
            "a bare state_dict or another program's file)"
        )
    spec = {"name": blob.pop("architecture"), **blob.pop("arguments")}
    history = blob.pop("history")
    model = rebuild(spec, history, what=str(path))
    require_fit(model, blob.pop("state_dict"), what=str(path))
    blob.pop("format")
    return model, {"spec": spec, "history": history, **blob}


def example_input(spec: Mapping[str, Any]) -> torch.Tensor:
    """A (1, mel bands, frames) input to trace the network of ``spec`` on (replay needs its dependency graph): the
    config's ``input_shape``, else the family's published one, with the config's ``n_mels`` and ``patch_frames``."""
    shape = spec.get("input_shape") or family_of(spec).input_shape
    if shape is None:
        raise ValueError(f"model={spec.get('name')} needs model.input_shape to replay a pruning history")
    mels = int(spec.get("n_mels") or shape[0])
    frames = max(int(shape[1]), int(spec.get("patch_frames") or 0))
    return torch.zeros(1, mels, frames)


def rebuild(spec: Mapping[str, Any], history: Sequence, *, what: str) -> torch.nn.Module:
    """The network of ``spec`` with the pruning ``history`` replayed (asc/nets/history.py; imported only when
    the history is not empty); ValueError in one line when the history does not fit the architecture."""
    model = build(spec)
    if history:
        from asc.nets.history import replay

        try:
            replay(model, history, example_input(spec))
        except Exception as err:  # noqa: BLE001 - any replay failure means: not this architecture's history
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"{what}: the pruning history does not fit model={spec['name']} ({first})"
            ) from None
    return model


def mismatch(model: torch.nn.Module, state: Mapping[str, Any]) -> str | None:
    """The first difference between ``state`` and the network's state dict (names, then shapes), or None."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = [f"missing {_some(missing)}"] * bool(missing) + [f"unexpected {_some(unexpected)}"] * bool(
            unexpected
        )
        return "; ".join(parts)
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            return f"{k} has shape {tuple(state[k].shape)}, the network's is {tuple(v.shape)}"
    return None


def require_fit(model: torch.nn.Module, state: Mapping[str, Any], *, what: str) -> None:
    """Load ``state`` into ``model``, or raise ValueError naming the first difference."""
    why = mismatch(model, state)
    if why:
        raise ValueError(f"{what} does not fit the network: {why}")
    model.load_state_dict(state)


def _some(names: Sequence[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


# ---------------------------------------------------------------------- a user's pretrained weights
def read_pretrained(path: str | Path, spec: Mapping[str, Any]) -> torch.nn.Module:
    """The network of ``spec`` holding the weights of ``path`` (see the module docstring); ValueError in one line
    naming the file and what differs."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"train.init_from={path} does not exist")
    with open(path, "rb") as fh:
        is_h5 = fh.read(8) == b"\x89HDF\r\n\x1a\n"
    model = build(spec)
    if is_h5:
        state = _keras_vggish_state(path, model)
    elif zipfile.is_zipfile(path):
        state = _torch_state(path)
    else:
        raise ValueError(f"train.init_from={path} is neither a PyTorch checkpoint nor a Keras .h5 file")
    require_fit(model, state, what=f"train.init_from={path} (model={spec['name']})")
    return model


def _torch_state(path: Path) -> dict[str, torch.Tensor]:
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        if blob["history"]:
            raise ValueError(
                f"train.init_from={path} is a pruned network; pretrained weights must be unpruned"
            )
        blob = blob["state_dict"]
    elif isinstance(blob, dict) and "state_dict" in blob and "spec" in blob:
        blob = blob["state_dict"]  # asc/nets/model.py's DCASE checkpoint
    elif isinstance(blob, dict) and isinstance(blob.get("model"), Mapping):
        blob = blob["model"]  # PANNs: {'model': state_dict, ...}
    if not isinstance(blob, Mapping) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise ValueError(
            f"train.init_from={path} holds no state dict (PANNs' {{'model': …}}, a bare one or asc's)"
        )
    return {k: v for k, v in blob.items() if not k.startswith(FRONT_END_PREFIXES)}


def _keras_vggish_state(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The authors' VGGish_Net weights in our layout: kernels HWIO → OIHW, dense kernels transposed, fc1's rows
    reordered from Keras' channels-last flatten to torch's channel-major one."""
    import h5py

    if not hasattr(model, "patch_logits"):
        raise ValueError(
            f"train.init_from={path}: a Keras .h5 loads into model=vggish_asc (or the DCASE family)"
        )
    state: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for ours, keras in VGGISH_KERAS.items():
            if keras not in root:
                raise ValueError(f"train.init_from={path} has no Keras layer {keras!r} (VGGish_Net's {ours})")
            kernel, bias = _kernel_bias(root[keras])
            if kernel.ndim == 4:
                kernel = kernel.transpose(3, 2, 0, 1)
            else:
                if ours == "fc1":
                    channels = model.conv4_2.out_channels
                    positions = kernel.shape[0] // channels
                    # Keras row (pos * C + c) → torch row (c * positions + pos)
                    kernel = (
                        kernel.reshape(positions, channels, -1)
                        .transpose(1, 0, 2)
                        .reshape(kernel.shape[0], -1)
                    )
                kernel = kernel.T
            state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))
            state[f"{ours}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    return state


def _kernel_bias(group) -> tuple[np.ndarray, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for name in _datasets(group):
        found.setdefault(name.split("/")[-1].split(":")[0], np.asarray(group[name]))
    if "kernel" not in found or "bias" not in found:
        raise ValueError(f"Keras layer {group.name} lacks a kernel or bias")
    return found["kernel"], found["bias"]


def _datasets(group) -> list[str]:
    names: list[str] = []
    group.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
    return names
