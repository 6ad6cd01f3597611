"""What the report times: a results row's ``model_spec`` as an architecture (asc/deploy/latency.py measures them).

A DCASE21/22-family row's spec is the network's own (:func:`asc.nets.model.normalise_spec`); a zoo network's row holds
its ``model`` config node and, when pruned, ``history``: (layer, is_out_channel, channels removed) per cut
(asc/pipeline/publish.py). Latency depends on the widths, not on which channels were kept, so the architecture is rebuilt
with random weights and the first channels removed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from asc.nets.model import build_model, normalise_spec

log = logging.getLogger("asc.deploy.latency")


def is_zoo(spec: Any) -> bool:
    """Whether a parsed ``model_spec`` is a zoo network's ``model`` config node (its family ``name``; asc/nets/)
    rather than a DCASE21/22-family spec (which names no family)."""
    from asc.nets import FAMILIES

    return (
        isinstance(spec, dict) and spec.get("name") in FAMILIES and not FAMILIES[spec["name"]].exact_surgery
    )


def canonical_spec(text: str) -> str:
    """The one spelling of a ``model_spec`` JSON, keys sorted: a DCASE21/22-family spec normalised
    (:func:`asc.nets.model.normalise_spec`); a zoo network's config node with its pruning ``history`` (asc/pipeline/publish.py)
    reduced to what sets the shapes, (layer, is_out_channel, number of channels removed), so networks pruned to
    the same widths are one architecture. Raises ``ValueError`` for text that is not a model spec."""
    spec = json.loads(text)
    if is_zoo(spec):
        history = [[p, bool(o), n if isinstance(n, int) else len(n)] for p, o, n in spec.get("history", [])]
        spec = {**spec, "history": history}
    else:
        spec = normalise_spec(spec)
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def architecture_label(spec: Mapping[str, Any]) -> str:
    """What tells the report's architectures apart: the widths of the conv layers, ``"16-16-32"`` (DCASE21/22
    family), or a zoo network's name with the channels its pruning removed, ``"panns_cnn14-1792"``."""
    if is_zoo(spec):
        removed = sum(int(n) for _, out, n in spec.get("history", []) if out)
        return spec["name"] + (f"-{removed}" if removed else "")
    return "-".join(str(int(w)) for w in spec["widths"])


def without_unknown_widths(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the ``model_spec`` of pruned zoo rows written before their spec carried the pruning history
    blanked (they would be timed as the unpruned network): those rows get no latency, said in one line."""
    if "model_spec" not in df or "stage" not in df:
        return df

    def unknown(text: Any, stage: str) -> bool:
        try:
            spec = json.loads(text)
        except (TypeError, ValueError):
            return False
        return stage != "baseline" and is_zoo(spec) and "history" not in spec

    mask = pd.Series(
        [unknown(t, s) for t, s in zip(df["model_spec"], df["stage"], strict=True)], index=df.index
    )
    if not mask.any():
        return df
    log.warning(
        "latency: %d pruned zoo row(s) were written before their model_spec carried the pruning history, so their "
        "widths are unknown; not timed (rerun them to time them)",
        int(mask.sum()),
    )
    return df.assign(model_spec=df["model_spec"].mask(mask, ""))


def build_architecture(key: str) -> tuple[torch.nn.Module, tuple[int, int]]:
    """(network with random weights, its input (mel bands, frames)) of a canonical spec (:func:`canonical_spec`):
    a zoo network is built from its config node and pruned to its widths by replaying the history with the
    first channels removed (latency depends on the widths, not on which channels were kept), its input from
    its front end (:func:`asc.nets.families.front_end_input_shape`)."""
    spec = json.loads(key)
    if not is_zoo(spec):
        return build_model(spec), tuple(spec["input_shape"])
    from asc.nets.checkpoint import rebuild
    from asc.nets.families import front_end_input_shape

    history = [(p, o, list(range(n))) for p, o, n in spec.pop("history", [])]
    return rebuild(spec, history, what="latency"), front_end_input_shape(spec)


def input_shape_of_key(key: str) -> tuple[int, int]:
    """(mel bands, frames) the architecture of a canonical spec takes (:func:`build_architecture`'s)."""
    spec = json.loads(key)
    if not is_zoo(spec):
        return tuple(spec["input_shape"])
    from asc.nets.families import front_end_input_shape

    return front_end_input_shape(spec)
