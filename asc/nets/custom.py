"""``model=custom``: any ``torch.nn.Module`` a user brings, named by ``model.factory=pkg.module:callable``.

The callable is called with ``model.kwargs`` (a mapping, default empty) and must return an ``nn.Module`` that maps
(batch, mel bands, frames) features to (batch, n_classes) logits. The config also declares ``model.input_shape``
([mel bands, frames]), ``model.front_end`` (a conf/features name) and ``model.n_classes``: planning checks them
against the features config, and :func:`build` checks the module's output on a zero input of that shape.
The factory's module must be importable (installed, or on PYTHONPATH); asc adds nothing to sys.path.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def resolve(factory: str):
    """The callable ``pkg.module:name``; ValueError naming what is missing."""
    module, sep, attr = str(factory).partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"model.factory={factory!r} must be 'package.module:callable'")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"model.factory={factory!r}: cannot import {module} ({err})") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ValueError(f"model.factory={factory!r}: {module} has no callable {attr!r}")
    return fn


def build(
    factory: str,
    input_shape,
    n_classes: int = 10,
    front_end: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
):
    """Call the factory and check its network maps (1, *input_shape) to (1, n_classes); ValueError otherwise."""
    import torch

    model = resolve(factory)(**dict(kwargs or {}))
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model.factory={factory!r} returned {type(model).__name__}, not a torch.nn.Module")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, int(input_shape[0]), int(input_shape[1])))
    except Exception as err:  # noqa: BLE001 - a factory's forward fails in its own words: add what it was given
        why = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"model.factory={factory!r}: its forward fails on a (batch, mel bands, frames) = (1, {input_shape[0]}, "
            f"{input_shape[1]}) input ({why}); a network taking (batch, 1, mel, frames) adds the axis with "
            "x.unsqueeze(1)"
        ) from None
    model.train(was_training)
    if tuple(out.shape) != (1, int(n_classes)):
        raise ValueError(
            f"model.factory={factory!r}: a (1, {input_shape[0]}, {input_shape[1]}) input gives output "
            f"{tuple(out.shape)}, expected (1, {n_classes}) (model.n_classes)"
        )
    return model
