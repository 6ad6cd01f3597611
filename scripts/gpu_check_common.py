"""Constants and helpers of scripts/gpu_check.py: sizes, the physical bounds, timing, Markdown."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "env",
    "baseline",
    "fused",
    "forms",
    "projection",
    "tests",
    "cli",
    "compile",
    "clitest",
    "compile_ro",
)
PEAK_TFLOPS = {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0}  # H100/H200 SXM datasheet, dense
GOALS = {
    "baseline_200_epochs_min": 2.0,
    "fused_fp32_bound_fraction_m32": 0.5,
    "bf16_examples_per_s": 100_000.0,
    "paper_grid_fp32_min": 60.0,
}
STANDIN_TRAIN, HOLDOUT = 13962, 0.3  # asc.data.standin / conf validation.amount
FULL = {
    "n_train": round(STANDIN_TRAIN * (1 - HOLDOUT)),
    "n_val": round(STANDIN_TRAIN * HOLDOUT),
    "batch": 16,
    "epochs": 3,
    "ms": (1, 8, 32, 128),
    "form_ms": (8, 64),  # the ranking held from 8 to 128 (2026-11-30); 64 keeps grouped's slow steps short
    "precisions": ("fp32", "tf32", "bf16"),
    "min_s": 0.3,
    "min_steps": 3,
    "cli_scale": None,  # asc.data.standin.MIN_SCALE (+ a margin)
    "spec": {},  # the paper's network (asc.nets.model.DEFAULT_SPEC)
    "tests_timeout_s": 100,
    "cli_timeout_s": 120,
}
REHEARSE = {
    **FULL,
    "n_train": 48,
    "n_val": 16,
    "batch": 8,
    "epochs": 2,
    "ms": (1, 2),
    "form_ms": (2,),
    "precisions": ("fp32", "bf16"),
    "min_s": 0.0,
    "min_steps": 1,
    "spec": {"widths": [4, 4, 8], "input_shape": [20, 100], "pools": [None, [5, 5], [4, 20]]},
}


# ---------------------------------------------------------------------------------------------- helpers
def example_gflop() -> float:
    """GFLOP of one training example of the paper's network: 3 (forward + backward) × 2 FLOP per MAC."""
    from asc.nets.complexity import complexity
    from asc.nets.model import build_model

    return 6 * complexity(build_model())["macs"] / 1e9


def bound(precision: str) -> float:
    """Examples/s at the datasheet peak of ``precision``."""
    return PEAK_TFLOPS[precision] * 1e3 / example_gflop()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn: Callable[[], int], device: torch.device, min_s: float, min_steps: int) -> float:
    """Items/s of ``fn`` (returns items done): one warm-up call (cuDNN's choice, allocations), then calls until
    min_s and min_steps."""
    fn()
    sync(device)
    n, calls, start = 0, 0, time.perf_counter()
    while calls < min_steps or time.perf_counter() - start < min_s:
        n += fn()
        calls += 1
    sync(device)
    return n / (time.perf_counter() - start)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
