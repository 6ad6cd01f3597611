"""Passive filter pruning: pick filters per conv layer with a registered criterion, then cut them out.

``prune_model(model, cfg)`` is the only entry point the pipeline uses; ``cfg`` is the ``prune`` config group
(``conf/prune/<name>.yaml``) as a mapping: ``name``, ``layers``, optionally ``per_layer_ratio`` and
``dense_mapping`` (correct | authors, see surgery.py) and the criterion's own options.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# What the package offers, and where it lives. Loaded on first use (PEP 562), so that planning can import the
# torch-free declarations (asc/prune/options.py) without loading torch.
_LAZY = {
    "CRITERIA": "asc.prune.criteria",
    "Selection": "asc.prune.criteria",
    "register": "asc.prune.criteria",
    "lookup": "asc.prune.criteria",
    "prune_filters": "asc.prune.surgery",
    "prune_model": "asc.prune.apply",
    "prune_any": "asc.prune.apply",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'asc.prune' has no attribute {name!r}")
    import_module("asc.prune.apply")  # registers every criterion before the registry is handed out
    return getattr(import_module(_LAZY[name]), name)
