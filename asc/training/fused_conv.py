"""Exact formulations of the fused (per-model) convolution, and the pick of the fastest one on a device.

A fused pass convolves G models at once: input (B, G·C_in, H, W), weights (G, C_out, C_in, k, k), bias
(G, C_out); output channel block g sees only input block g. Three ways to compute that, each the same sums:

- ``grouped``: one ``F.conv2d(groups=G)``. One kernel, but grouped convolutions with 1–16 channels per group
  are a known weak spot of cuDNN (and of oneDNN on the CPU: ~0.6× the per-example rate of plain convolutions).
- ``split``: G plain convolutions, one per model, concatenated: each model gets exactly the kernel it would
  get alone; G launches instead of one (a CUDA graph replays them without launch overhead).
- ``im2col``: unfolded patches times the weights as one batched matmul per chunk of models (cuBLAS instead of
  cuDNN). The patches (C_in·k² values per output pixel) are recomputed in the backward pass instead of saved, and
  models are chunked so that one chunk's patches stay under :data:`IM2COL_BYTES`.

``auto`` (the default) times grouped and split on a stack's first fused step (:func:`choose`); on the CPU it is
``grouped``, which :func:`asc.training.device.auto_group_size`'s one model per pass makes a plain convolution. Measured on
an H200 (fp32, README "Performance"): split ran at ~5,100 examples/s for every M from 8 to 128, grouped at 2,400
falling to 1,550 (cuDNN's grouped kernels), im2col at ~1,700.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from asc.training.formulations import CHOICES

log = logging.getLogger(__name__)
# What auto times: im2col ran at 0.3× split and ≤ 1.1× grouped in fp32 at M = 8-128 on an H200 (README
# "Performance"): its memory traffic (C_in·k² values per output pixel, written and read) bounds it. Explicit only.
AUTO_CANDIDATES = ("grouped", "split")
IM2COL_BYTES = 1 << 30  # patches of one chunk of models: bounds the extra memory of the im2col formulation


def conv_grouped(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    padding: int | tuple[int, int],
    g: int,
    channels_last: bool,
) -> torch.Tensor:
    w2 = w.reshape(-1, *w.shape[2:])
    if channels_last:  # input and weights both channels_last: oneDNN's fast path (2-3× for the 16→16 conv).
        # .to, not .contiguous: for C_in = 1 only .to sets NHWC strides, and the conv's output layout follows them.
        w2 = w2.to(memory_format=torch.channels_last)
    return F.conv2d(x, w2, b.reshape(-1), padding=padding, groups=g)


def conv_split(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    padding: int | tuple[int, int],
    g: int,
    channels_last: bool,
) -> torch.Tensor:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    xs = x.chunk(g, dim=1)
    return torch.cat(
        [F.conv2d(xs[i], w[i].to(memory_format=fmt), b[i], padding=padding) for i in range(g)], dim=1
    )


class _Im2col(torch.autograd.Function):
    """conv2d of G models as unfold + batched matmul; the backward recomputes the patches (see module doc)."""

    @staticmethod
    def forward(ctx, x, w, b, padding: int, g: int):
        batch, _, height, width = x.shape
        c_out, c_in, k = w.shape[1], w.shape[2], w.shape[3]
        wm = w.reshape(g, c_out, c_in * k * k)
        out = x.new_empty(batch, g, c_out, height * width)
        chunk = _chunk(x, g, c_in * k * k * height * width)
        for s in range(0, g, chunk):
            e = min(g, s + chunk)
            cols = _cols(x, s, e, c_in, k, padding)  # (B, e-s, C_in·k², L)
            out[:, s:e] = torch.einsum("gok,bgkl->bgol", wm[s:e], cols)
        out += b.reshape(1, g, c_out, 1)
        ctx.save_for_backward(x, w)
        ctx.conf = (padding, g)
        return out.reshape(batch, g * c_out, height, width)

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        padding, g = ctx.conf
        batch, _, height, width = x.shape
        c_out, c_in, k = w.shape[1], w.shape[2], w.shape[3]
        wm = w.reshape(g, c_out, c_in * k * k)
        go = grad_out.reshape(batch, g, c_out, height * width)
        grad_x, grad_w = torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(wm)
        chunk = _chunk(x, g, c_in * k * k * height * width)
        for s in range(0, g, chunk):
            e = min(g, s + chunk)
            cols = _cols(x, s, e, c_in, k, padding)
            grad_w[s:e] = torch.einsum("bgol,bgkl->gok", go[:, s:e], cols)
            dcols = torch.einsum("gok,bgol->bgkl", wm[s:e], go[:, s:e]).reshape(batch, -1, height * width)
            grad_x[:, s * c_in : e * c_in] = F.fold(dcols, (height, width), k, padding=padding)
        return grad_x, grad_w.reshape(w.shape), go.sum((0, 3)).reshape(g, c_out), None, None


def _chunk(x: torch.Tensor, g: int, values_per_model: int) -> int:
    return max(1, min(g, IM2COL_BYTES // max(1, x.shape[0] * values_per_model * x.element_size())))


def _cols(x: torch.Tensor, s: int, e: int, c_in: int, k: int, padding: int) -> torch.Tensor:
    part = x[:, s * c_in : e * c_in]
    return F.unfold(part, k, padding=padding).reshape(x.shape[0], e - s, c_in * k * k, -1)


def conv_im2col(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    padding: int | tuple[int, int],
    g: int,
    channels_last: bool = False,
) -> torch.Tensor:
    """(channels_last is ignored: the patches are gathered from an NCHW copy.)"""
    pads = (padding, padding) if isinstance(padding, int) else tuple(padding)
    pad = pads[0]
    if w.shape[-1] != w.shape[-2] or pads != (pad, pad) or 2 * pad != w.shape[-1] - 1:
        raise ValueError(f"im2col formulation needs square 'same' kernels, got {tuple(w.shape)}, {padding=}")
    if torch.is_autocast_enabled(
        x.device.type
    ):  # a custom Function is outside autocast: cast as conv2d would
        dtype = torch.get_autocast_dtype(x.device.type)
        x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    return _Im2col.apply(x.contiguous(), w, b, pad, g)


CONV: dict[str, Callable[..., torch.Tensor]] = {
    "grouped": conv_grouped,
    "split": conv_split,
    "im2col": conv_im2col,
}


def check(name: str) -> str:
    if name not in CHOICES:
        raise ValueError(f"formulation={name!r}; valid values: {', '.join(CHOICES)}")
    return name


def choose(
    trial: Callable[[str], None], device: torch.device, candidates: tuple[str, ...] = AUTO_CANDIDATES
) -> tuple[str, dict[str, float]]:
    """The fastest formulation and each one's median seconds per call of ``trial(formulation)`` (a forward +
    backward of the real step shape that leaves the models untouched): one warm-up call, then three timed
    calls each, interleaved. A formulation that raises (e.g. out of memory) is skipped. On the CPU: grouped."""
    if device.type != "cuda":
        return "grouped", {}
    times: dict[str, list[float]] = {c: [] for c in candidates}
    for c in candidates:
        try:
            trial(c)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
            log.warning("formulation %s cannot run this step (%s); skipped", c, str(err).splitlines()[0])
            times.pop(c)
            torch.cuda.empty_cache()
    for _ in range(3):
        for c in list(times):
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            trial(c)
            torch.cuda.synchronize(device)
            times[c].append(time.perf_counter() - start)
    med = {c: sorted(t)[1] for c, t in times.items()}
    return min(med, key=med.get), med
