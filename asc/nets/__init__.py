"""The network zoo: ``build(spec)`` makes the network a ``model`` config node names; ``family_of(spec)`` says what
planning needs to know about it (asc/nets/families.py). Importing this package does not import torch: each
family's module (and torch) is imported when a network is built."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from asc.nets.families import FAMILIES, Family, family_of, front_end_of, input_shape_of

__all__ = ["FAMILIES", "Family", "build", "family_of", "front_end_of", "input_shape_of", "plain"]


def build(spec: Mapping[str, Any]):
    """The ``torch.nn.Module`` of a ``model`` config node: ``name`` picks the family, the other keys are its
    constructor's keywords (unknown ones raise ValueError naming the family's options)."""
    fam = family_of(spec)
    kwargs = fam.kwargs(spec)
    unknown = sorted(set(kwargs) - set(fam.option_kinds))
    if unknown:
        raise ValueError(
            f"model={fam.name} has no option(s) {unknown}; its options: {sorted(fam.option_kinds)}"
        )
    module, _, attr = fam.constructor.partition(":")
    return getattr(importlib.import_module(module), attr)(**plain(kwargs))


def plain(value: Any) -> Any:
    """OmegaConf containers → plain dicts/lists (the constructors and checkpoints hold plain data)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [plain(v) for v in value]
    return value
