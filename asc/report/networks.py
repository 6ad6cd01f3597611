"""Which network a results row belongs to, so that no table or figure pools the rows of two networks.

One results table may hold several networks (``asc`` then ``asc model=dcase2024 prune=cosine`` into the same
``paths.results``): their rows share criteria, layer names and seeds, so every view that groups by those alone
would pool them. A row names its network through its ``model_spec`` (asc/pipeline/publish.py): a zoo network's
``model`` config node (its family ``name`` and arguments; the pruning ``history`` left out), or a DCASE21/22-family
spec whose ``widths`` are the pruned ones, so the network there is the spec less its widths (input, pools,
kernel, dense, classes, layer count) plus its unpruned widths (:func:`unpruned_widths`: a pruned row's from its
``kept`` column, ``C1:11/16``), labelled with them: two DCASE networks that differ only in their widths are two
networks, ``dcase 16-16-32`` and ``dcase 32-32-64``. :func:`with_network_labels` adds a ``network`` column only where
rows of several networks share a dataset, so a single network's report is what it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from asc.deploy.architectures import is_zoo
from asc.nets.model_spec import normalise_spec
from asc.report.rows import spec_of_row

NETWORK = "network"  # the column with_network_labels adds
UNKNOWN = "unknown network"  # the label of rows without a readable model_spec


def network_key(model_spec: Any) -> str:
    """The unpruned network of a row as canonical JSON (keys sorted): a zoo network's config node less its
    pruning ``history``; a DCASE21/22-family spec less its ``widths`` (the pruned ones on a pruned row; the
    layer count kept), so a DCASE 2021 and a DCASE 2022 network (input, pools) differ but two widths of one
    never separate; ``""`` for a row without a readable ``model_spec`` (tables written before it)."""
    spec = spec_of_row(model_spec)
    if spec is None:
        return ""
    if is_zoo(spec):
        spec = {k: v for k, v in spec.items() if k != "history"}
    else:
        try:
            spec = normalise_spec(spec)
        except (TypeError, ValueError):
            return ""
        spec["layers"] = len(spec.pop("widths"))
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def unpruned_widths(model_spec: Any, kept: Any, stage: str) -> str:
    """The widths of a DCASE21/22-family row's unpruned network, ``16-16-32``: a baseline row's spec widths; a pruned
    row's with each pruned layer's original width from its ``kept`` cell (``C1:11/16 C3:22/32``: kept/original).
    ``""`` for a zoo network, a row without a readable spec, or a pruned row without ``kept`` (a table written
    before it)."""
    spec = spec_of_row(model_spec)
    if spec is None or is_zoo(spec):
        return ""
    try:
        widths = normalise_spec(spec)["widths"]
    except (TypeError, ValueError):
        return ""
    layers = re.findall(r"\bC(\d+):\d+/(\d+)", str(kept) if isinstance(kept, str) else "")
    if stage != "baseline" and not layers:
        return ""
    for layer, original in layers:
        if 1 <= int(layer) <= len(widths):
            widths[int(layer) - 1] = int(original)
    return "-".join(str(w) for w in widths)


def _with_widths(key: str, widths: str) -> str:
    """A DCASE-family :func:`network_key` with its unpruned ``widths`` (``16-16-32``) in it; others as they are."""
    return (
        json.dumps({**json.loads(key), "widths": widths}, sort_keys=True, separators=(",", ":"))
        if widths
        else key
    )


def _base_label(spec: Mapping[str, Any], widths: str) -> str:
    """``panns_cnn14`` (a zoo family's name), ``dcase 16-16-32`` (the DCASE21/22 family and its baseline's
    ``widths``; ``dcase`` alone where the rows hold no baseline)."""
    if is_zoo(spec):
        return str(spec["name"])
    return f"dcase {widths}".strip()


def _value(value: Any) -> str:
    """``40x51`` for a flat list of numbers, compact JSON for anything nested, else the value as text."""
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return "x".join(str(v) for v in value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def network_labels(keys: list[str], widths: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{key: label}`` for distinct :func:`network_key` values: the family and widths (:func:`_base_label`;
    ``widths``: a DCASE-family key's baseline widths, ``16-16-32``), and where two networks share that, the
    arguments in which they differ (``dcase2024 base_channels=8``, ``dcase 16-16-32 input_shape=40x51``)."""
    specs = {k: json.loads(k) for k in keys if k}
    base = {k: _base_label(s, (widths or {}).get(k, "")) for k, s in specs.items()}
    labels = {"": UNKNOWN} if "" in keys else {}
    for key, spec in specs.items():
        twins = [specs[o] for o in specs if base[o] == base[key]]
        differ = sorted(f for f in spec if f != "name" and any(t.get(f) != spec[f] for t in twins))
        labels[key] = " ".join([base[key], *(f"{f}={_value(spec[f])}" for f in differ)])
    return labels


def network_column(df: pd.DataFrame) -> pd.Series:
    """Every row's network label (:func:`network_labels` of :func:`network_key` with the row's
    :func:`unpruned_widths`), index kept. A row whose unpruned widths are unknown (a pruned row without ``kept``)
    joins the first widths its network key has in the table."""
    blank = pd.Series("", index=df.index)
    spec, kept, stages = (df[c] if c in df else blank for c in ("model_spec", "kept", "stage"))
    keys = [network_key(s) for s in spec]
    widths = [unpruned_widths(*row) for row in zip(spec, kept, stages, strict=True)]
    first: dict[str, str] = {}
    for key, w in zip(keys, widths, strict=True):
        if key and w:
            first.setdefault(key, w)
    known = [w or first.get(k, "") for k, w in zip(keys, widths, strict=True)]
    full = [_with_widths(k, w) if k else k for k, w in zip(keys, known, strict=True)]
    labels = network_labels(list(dict.fromkeys(full)), dict(zip(full, known, strict=True)))
    return pd.Series([labels[k] for k in full], index=df.index, dtype=object)


def with_network_labels(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``network`` column (:func:`network_column`) when some dataset holds rows of several
    networks (rows without a ``model_spec`` count for none); otherwise ``df`` itself, unchanged (a single
    network's tables and figures stay as they were)."""
    if df.empty or "model_spec" not in df:
        return df
    labels = network_column(df)
    known = labels.where(labels.ne(UNKNOWN))  # rows from before model_spec: no network of their own
    if not known.groupby(df["dataset"]).nunique().gt(1).any():
        return df
    return df.assign(**{NETWORK: labels})


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as :func:`with_network_labels` leaves it, unless it has the ``network`` column already."""
    return df if NETWORK in df else with_network_labels(df)


def one_network(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """``df`` when it holds one network's rows; raises ``ValueError`` naming them otherwise (``what``: the table
    or figure, which compares criteria of one network: asc.report.write.write_report passes each its own)."""
    rows = labelled(df)
    if several_networks(rows):
        names = list(dict.fromkeys(rows[NETWORK]))
        raise ValueError(f"{what}: the rows hold several networks {names}; pass one network's rows")
    return df


def folder_name(label: str) -> str:
    """A network label as a folder name: ``dcase_16-16-32``, ``dcase2024_base_channels=8``."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("_") or "network"


def several_networks(df: pd.DataFrame) -> bool:
    """Whether ``df`` (rows with :func:`with_network_labels`' column) holds rows of more than one network."""
    return NETWORK in df and df[NETWORK].nunique() > 1


def network_levels(df: pd.DataFrame) -> list[str]:
    """``["network"]`` where ``df`` holds several networks (a grouping level to put first), else ``[]``."""
    return [NETWORK] if several_networks(df) else []
