"""``prune=given``: precomputed kept filter indices per layer, e.g. the authors' published ones
(conf/prune/authors_kept.yaml), so their exact pruned network can be rebuilt from a baseline.

Indices come inline (``kept: {C1: [0, 1, ...], ...}``) and/or from ``kept_file`` (a JSON or YAML mapping of the
same shape; relative paths are relative to the working directory); inline entries override the file's for the
same layer. Indices are 0-based filter numbers of the unpruned layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from .criteria import Selection, register


def _read_kept_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"prune.kept_file={path} does not exist; give a JSON/YAML {{layer: [indices]}} file"
        )
    text = file.read_text()
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(
            f"prune.kept_file={path} is not valid {file.suffix.lstrip('.') or 'YAML'}: {err}"
        ) from None
    if not isinstance(data, Mapping):
        raise ValueError(
            f"prune.kept_file={path} must hold a mapping {{layer: [indices]}}, got {type(data).__name__}"
        )
    return dict(data)


def given_kept(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The {layer: indices} mapping of ``kept_file`` updated with inline ``kept``."""
    table: dict[str, Any] = {}
    if opts.get("kept_file"):
        table.update(_read_kept_file(str(opts["kept_file"])))
    table.update(dict(opts.get("kept") or {}))
    return table


@register("given")
def given(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Keep exactly the listed filters of this layer (``opts["layer"]``), validated against its width."""
    layer, n = opts.get("layer"), weight.shape[0]
    table = given_kept(opts)
    if layer not in table:
        raise ValueError(
            f"prune=given has no kept indices for layer {layer} (have: {sorted(table) or 'none'}); add "
            f"prune.kept.{layer}=[...] or drop {layer} from prune.layers"
        )
    raw = table[layer]
    if isinstance(raw, str | bytes) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        raise ValueError(f"prune.kept.{layer}={raw!r} must be a list of integer filter indices")
    idx = [int(i) for i in raw]
    bad = [i for i in idx if not 0 <= i < n]
    if bad or not idx or len(set(idx)) != len(idx):
        why = f"indices {bad} are outside [0, {n})" if bad else "it is empty or repeats an index"
        raise ValueError(f"prune.kept.{layer}={idx}: {why}; layer {layer} has {n} filters (0-based)")
    return Selection(sorted(idx))


def check_kept(pcfg: Mapping[str, Any], widths: Mapping[str, int]) -> dict[str, list[int]]:
    """The kept indices of every pruned layer, checked against the layers' widths before anything is built
    (raises :class:`asc.errors.InputError` naming the key and the fix)."""
    from asc.errors import InputError

    try:
        given_kept(pcfg)  # the file reads
    except (OSError, ValueError) as err:
        raise InputError(str(err)) from None
    out = {}
    layers = [pcfg["layers"]] if isinstance(pcfg["layers"], str) else list(pcfg["layers"])
    for layer in layers:
        try:
            sel = given(torch.zeros(int(widths[layer]), 1, 1, 1), {**pcfg, "layer": layer})
        except ValueError as err:
            raise InputError(str(err)) from None
        out[layer] = sel.kept
    return out
