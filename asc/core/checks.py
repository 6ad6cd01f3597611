"""Checks that guard what the store keeps: an artifact with non-finite numbers is never written as complete."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np


class NonFiniteError(ValueError):
    """A tensor, array or metric that should hold finite numbers holds NaN or inf."""


def require_finite(what: str, value: Any) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` (e.g. "features stats.npz mean") if ``value`` — a tensor,
    array, number, or a (nested) mapping/list of them, such as a state_dict or metrics dict — is not finite."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            require_finite(f"{what}[{key!r}]", item)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            require_finite(f"{what}[{i}]", item)
        return
    torch = sys.modules.get(
        "torch"
    )  # a tensor exists only once torch is loaded: planning never loads it here
    if torch is not None and isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise NonFiniteError(f"{what} holds {bad} non-finite value(s) (NaN/inf); nothing was stored")
        return
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise NonFiniteError(f"{what} holds {bad} non-finite value(s) (NaN/inf); nothing was stored")
        return
    if isinstance(value, float) and not np.isfinite(value):
        raise NonFiniteError(f"{what} is {value}; nothing was stored")
