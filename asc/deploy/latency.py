"""Inference latency of every architecture of a report, measured side by side in one session.

Latency depends on the widths, not the weights, so each architecture (a row's ``model_spec``, the JSON of
:func:`asc.nets.model.normalise_spec`) is built once with random weights under a forked RNG. For each backend (torch
on CPU, onnxruntime on CPU, torch on CUDA) and batch size, all architectures are timed *interleaved round by
round* — one forward pass of each, in an order rotated every round — so a burst of load from other processes
hits all of them alike and the medians rank the models, not the moment each was measured (the same design as
``scripts/bench.py``). Each (architecture, backend, batch) keeps the median, quartiles and min–max of its
per-round times in ms per batch (``numpy.percentile``, linear interpolation).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asc.core.errors import ConfigError  # noqa: F401  (what check_latency_options raises, named here too)
from asc.core.provenance import cpu_model
from asc.deploy.architectures import (  # noqa: F401  (the report and cost views name them here)
    architecture_label,
    build_architecture,
    canonical_spec,
    input_shape_of_key,
    without_unknown_widths,
)
from asc.deploy.latency_options import BACKENDS, OPTION_KEYS, available_backends, check_latency_options  # noqa: F401

log = logging.getLogger(__name__)

COLUMNS = [
    "machine",
    "architecture",
    "backend",
    "batch",
    "rounds",
    "median_ms",
    "q1_ms",
    "q3_ms",
    "min_ms",
    "max_ms",
    "model_spec",
]
MIN_ROUNDS = 3  # a median and quartiles of fewer rounds say little; the budget never cuts below this


def specs_of(model_specs: Iterable[Any]) -> dict[str, str]:
    """``{canonical spec: label}`` of the distinct architectures among ``model_specs`` (a results table's
    ``model_spec`` column); blank and unreadable values are skipped (logged once). Labels are the widths, with
    ``#2``, ``#3`` appended when specs of equal widths differ in another setting."""
    found: dict[str, str] = {}
    bad = 0
    for text in model_specs:
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            key = canonical_spec(text)
        except (ValueError, TypeError):
            bad += 1
            continue
        if key not in found:
            label = architecture_label(json.loads(key))
            taken = sum(1 for v in found.values() if v.split("#")[0] == label)
            found[key] = label if not taken else f"{label}#{taken + 1}"
    if bad:
        log.warning("latency: %d row(s) have a model_spec that is not a model spec; not measured", bad)
    return found


@functools.cache
def machine_info() -> dict[str, Any]:
    """What the latencies were measured on: CPU model, cores, torch threads, versions, GPU."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def machine_label(info: Mapping[str, Any] | None = None) -> str:
    """One short line naming the machine (``latency.csv``'s ``machine`` column)."""
    info = info or machine_info()
    text = f"{info['cpu']} ({info['cores']} cores, {info['torch_threads']} threads), torch {info['torch']}"
    return text + (f", {info['gpu']}" if info.get("gpu") else "")


def _runners(specs: Sequence[str], backend: str, tmp: Path) -> list[Callable[[torch.Tensor], Any]]:
    """One forward function per architecture (random weights, eval mode) on ``backend``."""
    out = []
    for i, key in enumerate(specs):
        with torch.random.fork_rng(devices=[]):  # measuring never shifts the pipeline's random stream
            torch.manual_seed(0)
            model, shape = build_architecture(key)
            model.eval()
        if backend == "ort":
            from asc.deploy.export import INPUT, export_onnx, onnx_session

            try:  # the TorchScript exporter takes a fraction of the dynamo one's time; the graph is the same
                path = export_onnx(model, tmp / f"m{i}.onnx", exporter="torchscript", input_shape=shape)
            except Exception:  # noqa: BLE001 - removed in a future torch: fall back to the default exporter
                path = export_onnx(model, tmp / f"m{i}.onnx", exporter="auto", input_shape=shape)
            session = onnx_session(path)
            out.append(lambda x, s=session: s.run(None, {INPUT: x.numpy()}))
        else:
            model = model.to("cuda" if backend == "cuda" else "cpu")

            def run(x, m=model):
                with torch.inference_mode():
                    return m(x)

            out.append(run)
    return out


def spread_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """``rounds`` and the median, quartiles (``q1_ms``, ``q3_ms``; ``numpy.percentile``, linear interpolation)
    and extremes of per-round times given in seconds, in ms rounded to 4 decimals."""
    ms = np.asarray(seconds, dtype=float) * 1000.0
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    named = {"median_ms": med, "q1_ms": q1, "q3_ms": q3, "min_ms": ms.min(), "max_ms": ms.max()}
    return {"rounds": len(ms)} | {k: round(float(v), 4) for k, v in named.items()}


def interleaved_times(
    runs: Sequence[Callable[[], Any]],
    *,
    rounds: int,
    budget_s: float = math.inf,
    warmup: int = 1,
    sync: Callable[[], Any] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
    timer: Callable[[Callable[[], Any]], float] | None = None,
) -> list[list[float]]:
    """Seconds of each of ``runs`` per round: ``warmup`` untimed calls of each, then up to ``rounds`` rounds
    of one timed call of each, the order rotated by one every round (no model always runs first). Stops after
    the round in which the timed calls exceed ``budget_s``, but never before ``min(3, rounds)`` rounds.
    ``timer``: how one round times a run, in seconds per call (e.g. ``torch.utils.benchmark``'s blocked
    autorange, asc/deploy/timing.py); default one call between two ``clock`` readings. The budget counts wall time."""
    for run in runs:
        for _ in range(warmup):
            run()
    sync()
    times: list[list[float]] = [[] for _ in runs]
    spent = 0.0
    for r in range(rounds):
        if r >= min(MIN_ROUNDS, rounds) and spent > budget_s:
            break
        for j in range(len(runs)):
            i = (j + r) % len(runs)
            start = clock()
            if timer is None:
                runs[i]()
                sync()
            else:
                seconds = timer(runs[i])
            elapsed = clock() - start
            times[i].append(elapsed if timer is None else seconds)
            spent += elapsed
    return times


def measure(
    specs: Mapping[str, str],
    *,
    backends: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1, 16),
    repeats: int = 15,
    budget_s: float = 3.0,
    warmup: int = 1,
) -> pd.DataFrame:
    """Latency of every architecture of ``specs`` (``{canonical spec: label}``, see :func:`specs_of`) in one
    session: for each backend (default: :func:`available_backends`) and batch size, the architectures are timed
    interleaved over up to ``repeats`` rounds (:func:`interleaved_times`). ``budget_s`` caps the timed calls
    of the whole session (split evenly over the backend × batch cells; ONNX export and warm-up are outside it).

    Returns :data:`COLUMNS`: one row per architecture × backend × batch with the per-round median, quartiles
    (``q1_ms``, ``q3_ms``) and extremes in ms per batch, the number of rounds and the machine label. An
    unavailable backend named in ``backends`` raises :class:`asc.core.errors.ConfigError`."""
    check_latency_options(
        {"backends": list(backends) if backends else None, "batch_sizes": list(batch_sizes)}
        | {"repeats": repeats, "budget_s": budget_s}
    )
    backends = list(backends or available_backends())
    keys = list(specs)
    shapes = [input_shape_of_key(key) for key in keys]
    records = []
    cell_budget = budget_s / max(1, len(backends) * len(batch_sizes))
    with tempfile.TemporaryDirectory(prefix="asc-latency-") as tmp:
        for backend in backends:
            runners = _runners(keys, backend, Path(tmp)) if keys else []
            sync = torch.cuda.synchronize if backend == "cuda" else (lambda: None)
            for batch in batch_sizes:
                xs: dict[tuple[int, ...], torch.Tensor] = {}
                for shape in shapes:  # seeded: every session times the same input
                    x = torch.randn(
                        int(batch), 1, *shape, generator=torch.Generator().manual_seed(int(batch))
                    )
                    xs[shape] = x.cuda() if backend == "cuda" else x
                calls = [
                    functools.partial(run, xs[shape]) for run, shape in zip(runners, shapes, strict=True)
                ]
                times = interleaved_times(
                    calls, rounds=int(repeats), budget_s=cell_budget, warmup=warmup, sync=sync
                )
                for key, t in zip(keys, times, strict=True):
                    head = {"machine": machine_label(), "architecture": specs[key], "backend": backend}
                    records.append(head | {"batch": int(batch)} | spread_ms(t) | {"model_spec": key})
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def cpu_medians(
    models: Sequence[torch.nn.Module],
    example: torch.Tensor,
    *,
    threads: int = 1,
    rounds: int = 21,
    calls: int = 3,
    warmup: int = 2,
) -> list[float]:
    """Median ms per forward pass of each of ``models`` on the CPU (eval mode, inference mode) on ``example`` (one
    batch), timed interleaved (:func:`interleaved_times`: ``warmup`` untimed passes, then ``rounds`` rounds of
    ``calls`` passes of each model, whose mean is the round's time). torch's intra-op threads are set to
    ``threads`` while timing and restored after. The measurement of asc/prune/block_choice.py."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        x = example.cpu()
        runs = []
        for model in models:
            model = model.eval().cpu()

            def run(m: torch.nn.Module = model) -> None:
                with torch.inference_mode():
                    for _ in range(int(calls)):
                        m(x)

            runs.append(run)
        times = interleaved_times(runs, rounds=int(rounds), warmup=int(warmup))
    finally:
        torch.set_num_threads(before)
    return [spread_ms([t / int(calls) for t in per_round])["median_ms"] for per_round in times]
