"""The report's latency options (``runtime.latency``), checked without torch: planning reads them here, the
interleaved timer (asc/deploy/latency.py) uses them."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError

BACKENDS = ("cpu", "ort", "cuda")  # torch on CPU, onnxruntime on CPU, torch on CUDA
OPTION_KEYS = ("measure", "backends", "batch_sizes", "repeats", "budget_s")


def available_backends() -> list[str]:
    """The backends this process can measure: torch CPU always, onnxruntime if installed, CUDA if present."""
    found = ["cpu"]
    if all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
        found.append("ort")
    import torch  # only to ask for a CUDA device

    if torch.cuda.is_available():
        found.append("cuda")
    return found


def _fail(key: str, value: Any, expected: str) -> None:
    raise ConfigError(f"runtime.latency.{key}={value!r} is not valid: expected {expected}")


def check_latency_options(options: Mapping[str, Any]) -> None:
    """Raise :class:`asc.core.errors.ConfigError` (one line naming ``runtime.latency.<key>``) for an option that
    cannot work: an unknown key, a non-boolean ``measure``, an unknown backend, ``ort`` without onnxruntime or
    ``cuda`` without a CUDA device (only checked when ``measure`` is true), ``repeats`` < 1, empty or
    non-positive ``batch_sizes``, a negative or non-finite ``budget_s``."""
    if not isinstance(options, Mapping):  # runtime.latency=png: not a node
        raise ConfigError(
            f"runtime.latency={options!r} is not valid: expected a node of {', '.join(OPTION_KEYS)}, "
            "e.g. runtime.latency.measure=false"
        )
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        _fail(unknown[0], options[unknown[0]], f"one of the keys {', '.join(OPTION_KEYS)}")
    measure = options.get("measure", True)
    if not isinstance(measure, bool):
        _fail("measure", measure, "true or false")
    backends = options.get("backends")
    if backends is not None:
        names = backends
        if isinstance(names, str):  # Hydra reads `backends=cpu` as the text "cpu": say how to write the list
            _fail("backends", backends, f"a list, e.g. runtime.latency.backends=[{backends}]")
        if not isinstance(names, list | tuple) or not names or any(b not in BACKENDS for b in names):
            _fail("backends", backends, f"null (every available one) or a list of {', '.join(BACKENDS)}")
        if measure and "ort" in names and "ort" not in available_backends():
            _fail(
                "backends", backends, "no 'ort' here: onnxruntime is not installed (pip install onnxruntime)"
            )
        if measure and "cuda" in names and "cuda" not in available_backends():
            _fail("backends", backends, "no 'cuda' here: torch sees no CUDA device")
    sizes = options.get("batch_sizes", [1])
    if (
        not isinstance(sizes, list | tuple)
        or not sizes
        or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in sizes)
    ):
        _fail("batch_sizes", sizes, "a non-empty list of integers >= 1")
    repeats = options.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        _fail("repeats", repeats, "an integer >= 1 (interleaved rounds per backend and batch size)")
    budget = options.get("budget_s", 0.0)
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not math.isfinite(budget)
        or budget < 0
    ):
        _fail("budget_s", budget, "a number of seconds >= 0")
