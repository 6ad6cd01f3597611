"""Measured cost beside counted cost: parameter memory, the DCASE limit, inference latency, the machine.

Memory follows the DCASE 2021 Task 1A rule: every parameter counts, BN moving statistics included (our
``params_keras``), at the precision it is stored in, and 1 KB = 1024 bytes (128 KB = 32,768 fp32 parameters; the
official baseline's 46,246 parameters are its published 90.3 KB at fp16).

Latency depends on the widths, not the weights, so it is measured on a model built from the spec with random
weights (under a forked RNG, so measuring never shifts the pipeline's random stream) and cached per spec in the
process: a run with many models of a few distinct widths measures each width once. Reported values are the median
of repeated runs in milliseconds per batch.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asc.model import build_model, normalise_spec
from asc.results import layer_key

KB = 1024
DCASE_LIMIT_KB = 128.0
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}
BACKENDS = ("cpu", "ort", "cuda")  # torch on CPU, onnxruntime on CPU, torch on CUDA


def memory_columns(params: int) -> dict[str, float | int]:
    """``mem_{fp32,fp16,int8}_kb``: parameter memory in KB (1024 bytes) of ``params`` parameters (pass the Keras
    count, ``params_keras``), and ``dcase_fit_bits``: the widest precision (32, 16 or 8 bits) at which they fit
    the DCASE 2021 Task 1A limit of 128 KB, 0 if none does."""
    params = int(params)
    cols: dict[str, float | int] = {
        f"mem_{p}_kb": round(params * b / KB, 2) for p, b in BYTES_PER_PARAM.items()
    }
    fits = [8 * b for b in BYTES_PER_PARAM.values() if params * b <= DCASE_LIMIT_KB * KB]
    cols["dcase_fit_bits"] = max(fits, default=0)
    return cols


def available_backends() -> list[str]:
    """The latency backends this process can measure: torch CPU always, onnxruntime if installed, CUDA if present."""
    import importlib.util

    found = ["cpu"]
    if all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
        found.append("ort")
    if torch.cuda.is_available():
        found.append("cuda")
    return found


def _median_ms(
    run: Callable[[], Any], *, repeats: int, warmup: int, budget_s: float, sync=lambda: None
) -> float:
    """Median wall time of ``run`` in ms over up to ``repeats`` runs after ``warmup`` runs; stops early once
    ``budget_s`` is spent, but never with fewer than 3 runs (a median of fewer says little)."""
    for _ in range(warmup):
        run()
    sync()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats and (len(times) < min(3, repeats) or spent < budget_s):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times) * 1000.0


def _torch_runner(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def run():
        with torch.inference_mode():
            return model(x)

    return run


@functools.lru_cache(maxsize=64)
def _measure(
    spec_json: str, backend: str, batch_sizes: tuple[int, ...], repeats: int, warmup: int, budget_s: float
) -> tuple[tuple[str, float], ...]:
    spec = json.loads(spec_json)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(spec).eval()
    shape = spec["input_shape"]
    out = []
    with tempfile.TemporaryDirectory(prefix="asc-latency-") as tmp:
        if backend == "ort":
            from asc.export import INPUT, export_onnx, onnx_session

            try:  # the TorchScript exporter takes a fraction of the dynamo one's time; the graph is the same
                path = export_onnx(model, Path(tmp) / "m.onnx", exporter="torchscript")
            except Exception:  # noqa: BLE001 - removed in a future torch: fall back to the default exporter
                path = export_onnx(model, Path(tmp) / "m.onnx", exporter="auto")
            session = onnx_session(path)
        elif backend == "cuda":
            model = model.cuda()
        for batch in batch_sizes:
            x = torch.randn(batch, 1, *shape, generator=torch.Generator().manual_seed(batch))
            if backend == "ort":
                feed = {INPUT: x.numpy()}
                run, sync = (lambda feed=feed: session.run(None, feed)), (lambda: None)
            elif backend == "cuda":
                run, sync = _torch_runner(model, x.cuda()), torch.cuda.synchronize
            else:
                run, sync = _torch_runner(model, x), (lambda: None)
            ms = _median_ms(run, repeats=repeats, warmup=warmup, budget_s=budget_s, sync=sync)
            out.append((f"lat_{backend}_b{batch}_ms", round(ms, 3)))
    return tuple(out)


def measure_latency(
    spec: dict[str, Any],
    *,
    batch_sizes: Sequence[int] = (1, 64),
    repeats: int = 7,
    warmup: int = 1,
    device: str = "cpu",
    budget_s: float = 1.0,
) -> dict[str, float]:
    """``{"lat_<device>_b<batch>_ms": median ms}`` for a model of ``spec``'s widths on ``device`` ("cpu": torch
    on CPU, "ort": onnxruntime on CPU, "cuda": torch on the GPU). Each (device, batch) gets ``warmup`` runs, then
    up to ``repeats`` timed runs, fewer (but at least 3) once ``budget_s`` seconds are spent. Cached per spec."""
    if device not in BACKENDS:
        raise ValueError(f"latency device={device!r}; valid: {', '.join(BACKENDS)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("latency device='cuda' but torch sees no CUDA device")
    if repeats < 1 or warmup < 0 or any(int(b) < 1 for b in batch_sizes):
        raise ValueError(
            f"need repeats ≥ 1, warmup ≥ 0 and batch sizes ≥ 1 (got {repeats}, {warmup}, {batch_sizes})"
        )
    key = json.dumps(normalise_spec(spec), sort_keys=True)
    sizes = tuple(int(b) for b in batch_sizes)
    return dict(_measure(key, device, sizes, int(repeats), int(warmup), float(budget_s)))


def latency_columns(
    spec: dict[str, Any], *, backends: Sequence[str] | None = None, **options: Any
) -> dict[str, float]:
    """:func:`measure_latency` on each of ``backends`` (default: every available one, see
    :func:`available_backends`; an unavailable one named explicitly is an error), merged into one dict."""
    for device in backends or ():
        if device not in available_backends():
            raise ValueError(
                f"latency backend {device!r} is not available here; available: {available_backends()}"
            )
    cols: dict[str, float] = {}
    for device in backends or available_backends():
        cols.update(measure_latency(spec, device=device, **options))
    return cols


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def machine_info() -> dict[str, Any]:
    """What the latencies were measured on, for the run's metadata: CPU model, cores, threads, versions, GPU."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    cuda = torch.cuda.is_available()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def machine_label(info: dict[str, Any] | None = None) -> str:
    """One short line naming the machine (the results table's ``machine`` column)."""
    info = info or machine_info()
    text = f"{info['cpu']} ({info['cores']} cores, {info['torch_threads']} threads), torch {info['torch']}"
    return text + (f", {info['gpu']}" if info.get("gpu") else "")


def cost_columns(
    spec: dict[str, Any], params_keras: int, *, measure: bool = True, **options: Any
) -> dict[str, Any]:
    """Every cost column of one results row: memory and the DCASE check from ``params_keras``, and (with
    ``measure``) the latencies of ``spec``'s widths plus the ``machine`` label. ``options`` go to
    :func:`latency_columns` (backends) and :func:`measure_latency` (batch_sizes, repeats, warmup, budget_s)."""
    cols: dict[str, Any] = memory_columns(params_keras)
    if measure:
        cols.update(latency_columns(spec, **options))
        cols["machine"] = machine_label()
    return cols


# ----------------------------------------------------------------------------------------------------------
# Views of the results table shared by the report's cost table and its accuracy-vs-cost figure.

LATENCY_PREFERENCE = (
    "lat_cpu_b1_ms",
    "lat_cpu_b64_ms",
    "lat_ort_b1_ms",
    "lat_ort_b64_ms",
    "lat_cuda_b1_ms",
    "lat_cuda_b64_ms",
)


def latency_columns_in(df: pd.DataFrame) -> list[str]:
    """The latency columns (``lat_*_ms``) that hold data, preferred ones (torch CPU, batch 1) first."""
    present = [c for c in df.columns if c.startswith("lat_") and c.endswith("_ms") and df[c].notna().any()]
    return [c for c in LATENCY_PREFERENCE if c in present] + sorted(set(present) - set(LATENCY_PREFERENCE))


def cost_points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model (the baseline, then each criterion × layer set): counted and measured cost, and its
    accuracy in % (mean/std/n) — after fine-tuning at the largest fraction when the model has fine-tuned rows
    (``basis`` "FT <f>%"), else without fine-tuning ("no FT")."""
    latencies = latency_columns_in(df)
    records = []
    for (crit, layers), rows in df.groupby(["criterion", "layers"], sort=False, dropna=False):
        ft = rows[rows["finetuned"]]
        if not ft.empty:
            top = ft["fraction"].max()
            rows_acc = ft[np.isclose(ft["fraction"], top)] if pd.notna(top) else ft
            basis = f"FT {top * 100:g}%" if pd.notna(top) else "FT"
        else:
            rows_acc, basis = rows, "trained" if (rows["stage"] == "baseline").all() else "no FT"
        acc = rows_acc["accuracy"].dropna() * 100
        params = rows["params_keras"].dropna()
        rec = {
            "criterion": crit,
            "layers": layers,
            "baseline": bool((rows["stage"] == "baseline").any()),
            "params_keras": params.iloc[0] if len(params) else np.nan,
            "macs": rows["macs"].median(),
            "accuracy": acc.mean(),
            "accuracy_std": acc.std(ddof=1) if len(acc) > 1 else 0.0,
            "n": len(acc),
            "basis": basis,
        }
        mem = memory_columns(int(rec["params_keras"])) if len(params) else {}
        for col in ("mem_fp32_kb", "mem_fp16_kb", "mem_int8_kb", "dcase_fit_bits"):
            stored = rows[col].dropna() if col in rows else []
            rec[col] = stored.iloc[0] if len(stored) else mem.get(col, np.nan)  # old rows: derive from params
        rec.update({col: rows[col].median() for col in latencies})
        records.append(rec)
    points = pd.DataFrame.from_records(records)
    if points.empty:
        return points
    points = points[points["accuracy"].notna()]
    # Baseline first, then criterion and the paper's layer-set order.
    order = points.apply(lambda r: (not r["baseline"], r["criterion"], layer_key(r["layers"])), axis=1)
    return points.loc[order.sort_values().index].reset_index(drop=True)


def pareto_mask(cost: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for the points no other point dominates (cost ≤ and accuracy ≥, one strictly); NaN is never on it."""
    c, a = np.asarray(cost, dtype=float), np.asarray(accuracy, dtype=float)
    ok = np.isfinite(c) & np.isfinite(a)
    mask = np.zeros(len(c), dtype=bool)
    for i in np.flatnonzero(ok):
        better = ok & (c <= c[i]) & (a >= a[i]) & ((c < c[i]) | (a > a[i]))
        mask[i] = not better.any()
    return mask
