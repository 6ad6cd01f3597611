"""Torch-free counts of a plain network from its ``model`` spec, for planning (the disk estimates and the ETA's
MACs per clip): ``{"params": values a checkpoint holds, "macs": multiply-accumulates per clip}``. A family names
its formula in asc/nets/families.py (``Family.counts``); the others are counted on torch's meta device
(asc/pipeline/stages/baseline.py). MACs follow asc/nets/cost.py (convolutions and matrix products: no bias,
BatchNorm, pooling or activations); tests/test_counts.py checks each formula against the built network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.nets.model_spec import normalise_spec

# VGGishASC's constructor defaults (asc/nets/vggish_asc.py): the published VGGish_Net
VGGISH_DEFAULTS: dict[str, Any] = {
    "widths": [64, 128, 256, 256, 512, 512],
    "dense": [4096, 128],
    "n_classes": 10,
    "n_mels": 64,
    "patch_frames": 96,
    "patch_hop": 48,
}
VGGISH_POOL_AFTER = (0, 1, 3, 5)  # conv1, conv2, conv3_2, conv4_2: a 2×2 max pool after each


def dcase(spec: Mapping[str, Any], input_shape: Sequence[int] | None = None) -> dict[str, int]:
    """The DCASE 2021/2022 baseline (asc/nets/model.py) of ``spec`` on its own ``spec.input_shape`` (the
    argument is not read): params = conv weights + bias + BatchNorm's 4 per channel + dense layers (Keras' count,
    the DCASE memory rule's); MACs = out H × W × c_out × c_in × k² per conv ("same" padding) + dense in × out.
    The default spec: 46,246 / 286,637,800. ValueError for an invalid spec."""
    s = normalise_spec(dict(spec))
    k, pad = s["kernel"], s["kernel"] // 2
    height, width = s["input_shape"]
    c_in, params, macs = 1, 0, 0
    for c_out, pool in zip(s["widths"], s["pools"], strict=True):
        height, width = height + 2 * pad - k + 1, width + 2 * pad - k + 1
        macs += height * width * c_out * c_in * k * k
        params += c_out * c_in * k * k + c_out + 4 * c_out
        if pool is not None:
            height, width = height // pool[0], width // pool[1]
        c_in = c_out
    flat, dense, classes = c_in * height * width, s["dense"], s["n_classes"]
    macs += flat * dense + dense * classes
    params += (flat + 1) * dense + (dense + 1) * classes
    return {"params": params, "macs": macs}


def vggish(spec: Mapping[str, Any], input_shape: Sequence[int]) -> dict[str, int]:
    """VGGish_Net (asc/nets/vggish_asc.py) of ``spec`` (the constructor's defaults for missing keys) on clips of
    ``input_shape`` = (mel bands, frames): six 3×3 "same" convs (pools 2×2 after conv1, conv2, conv3_2, conv4_2),
    fc1, fc2, out; no buffers. MACs per clip = patches × MACs per patch, patches = (frames − patch_frames) //
    patch_hop + 1 (847.1 M per patch published; 19 patches per 10-s clip). ValueError when the clip is shorter
    than a patch or the pools shrink a patch to nothing."""
    s = {**VGGISH_DEFAULTS, **{k: v for k, v in spec.items() if k != "name"}}
    widths, dense = [int(w) for w in s["widths"]], [int(d) for d in s["dense"]]
    rows, cols = int(s["patch_frames"]), int(s["n_mels"])
    frames = int(input_shape[1])
    if frames < rows:
        raise ValueError(f"input has {frames} frames; VGGish_Net needs at least {rows}")
    c_in, params, macs = 1, 0, 0
    for i, c_out in enumerate(widths):
        params += 9 * c_in * c_out + c_out
        macs += rows * cols * 9 * c_in * c_out
        if i in VGGISH_POOL_AFTER:
            rows, cols = rows // 2, cols // 2
        c_in = c_out
    if rows < 1 or cols < 1:
        raise ValueError(f"four 2×2 pools shrink a {s['patch_frames']} × {s['n_mels']} patch to nothing")
    sizes = [c_in * rows * cols, *dense, int(s["n_classes"])]
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        params += (n_in + 1) * n_out
        macs += n_in * n_out
    patches = (frames - int(s["patch_frames"])) // int(s["patch_hop"]) + 1
    return {"params": params, "macs": patches * macs}
