"""Where and how fast tensors compute: the device, the float precision of a pass, and how many fused models share
one pass on it. Speed only: nothing here is part of an artifact key, except ``precision``, which a recipe names.
"""

from __future__ import annotations

import contextlib

import torch

from asc.training.recipes import PRECISIONS  # a recipe names the precision; precision_mode applies it


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but no CUDA device is available; use device=cpu or device=auto")
    return torch.device(name)


@contextlib.contextmanager
def precision_mode(precision: str, device: torch.device, cudnn_benchmark: bool = False):
    """fp32 switches TF32 *off* (cuDNN convolutions default to TF32 on Ampere and later GPUs).
    ``cudnn_benchmark``: cuDNN times its algorithms on the first call of each shape and keeps the fastest (FFT
    and other algorithms that its heuristics skip); speed only, though another algorithm sums in another order."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; valid values: {', '.join(PRECISIONS)}")
    flags = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.benchmark = cudnn_benchmark
    # No autocast cache: the fused step makes new leaf tensors each step, whose cached bf16 copies would pile
    # up until the context exits, and a CUDA graph must not capture casts cached outside it.
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False
    )
    try:
        with autocast:
            yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = flags


def fits(x: torch.Tensor, free_bytes: int) -> bool:
    """Whether x may live on a device with ``free_bytes`` free: under half of it (the rest is for activations)."""
    return x.numel() * x.element_size() < free_bytes // 2


def on_device(x: torch.Tensor, device: torch.device, resident: bool | None = None) -> torch.Tensor:
    """Where the training loop keeps a feature (or label) tensor: on ``device`` (mini-batches are then gathered
    there: no host work or copy per step, no DataLoader) or on the CPU (each mini-batch is gathered on the CPU and
    copied over). ``resident``: True/False force it; None moves it to a CUDA device when it :func:`fits` the
    free memory, and always to the CPU. Both places give the same batches (tests/test_fused_cuda.py)."""
    if x.device == device:
        return x
    if resident is None:
        resident = device.type != "cuda" or fits(x, torch.cuda.mem_get_info(device)[0])
    return x.to(device) if resident else x


def auto_group_size(device: torch.device) -> int:
    """Models per grouped pass when not given. CPU: 1 — measured on 2 cores (torch 2.13, oneDNN, scripts/bench.py
    section fused), a grouped conv over 4–8 models runs at ~0.58× the per-example rate of the same models' plain
    convs, so on the CPU train_many keeps the fused schedule but gives each model its own pass (then each gets
    bit for bit what it gets alone). That box was shared and loaded (each 2-thread OpenMP region then costs a
    ~16 ms scheduler slice, which blurs every CPU timing): re-measure on a quiet CPU with ``scripts/bench.py
    --section fused``, which prints both. CUDA: every model in one pass (a 46k-parameter net at batch 16 is
    launch-bound; fusion multiplies the work per launch)."""
    return 1 if device.type == "cpu" else 1 << 30


def parts(sel: list[int], k: int) -> list[list[int]]:
    return [sel[i : i + k] for i in range(0, len(sel), k)]
