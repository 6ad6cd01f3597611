"""The DCASE 2021 Task 1A baseline CNN's *spec* (widths, kernel, pools, ...), without torch: what planning checks
and what asc/nets/model.py builds. Defaults and their sources: asc/nets/model.py and docs/dcase2021_baseline.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_SPEC: dict[str, Any] = {
    "widths": [16, 16, 32],
    "kernel": 7,
    "pools": [None, [5, 5], [4, 100]],
    "dropout": 0.3,
    "dense": 100,
    "n_classes": 10,
    "input_shape": [40, 500],
    "bn_eps": 1e-3,
    "bn_momentum": 0.01,
}


def conv_names(spec: dict[str, Any]) -> list[str]:
    """Names of the conv layers as the paper writes them: C1, C2, ..."""
    return [f"C{i + 1}" for i in range(len(spec["widths"]))]


def normalise_spec(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill defaults and turn containers into plain lists/ints so the spec round-trips through torch.save."""
    out = dict(DEFAULT_SPEC)
    out.update({k: v for k, v in (spec or {}).items() if k in DEFAULT_SPEC})
    unknown = set(spec or {}) - set(DEFAULT_SPEC)
    if unknown:
        raise ValueError(f"model spec has unknown keys {sorted(unknown)}; valid keys: {sorted(DEFAULT_SPEC)}")
    out["widths"] = [int(w) for w in out["widths"]]
    out["pools"] = [None if p is None else [int(p[0]), int(p[1])] for p in out["pools"]]
    if len(out["pools"]) != len(out["widths"]):
        raise ValueError(
            f"model.pools has {len(out['pools'])} entries but model.widths has {len(out['widths'])}"
        )
    if any(w < 1 for w in out["widths"]):
        raise ValueError(f"model.widths must be positive, got {out['widths']}")
    out["input_shape"] = [int(s) for s in out["input_shape"]]
    for key in ("kernel", "dense", "n_classes"):
        out[key] = int(out[key])
    for key in ("dropout", "bn_eps", "bn_momentum"):
        out[key] = float(out[key])
    return out


def check_shape(spec: dict[str, Any]) -> None:
    """Raise ValueError when the pools shrink the input to nothing (what building the network would find)."""
    height, width = spec["input_shape"]
    for pool in spec["pools"]:
        if pool is not None:
            height, width = height // pool[0], width // pool[1]
    if height < 1 or width < 1:
        raise ValueError(f"model.pools {spec['pools']} shrink input {spec['input_shape']} to nothing")


def check_config(m: Mapping[str, Any]) -> list[str]:
    """The ``model`` config node of the DCASE21/22 family: its integers, widths, input shape, pools, dropout and
    BN values, then the spec's shapes (:func:`check_shape`); returns the conv layer names (C1, C2, ...) a layer
    set may use. Raises ConfigError naming the first bad key."""
    from asc.core.errors import ConfigError
    from asc.core.values import fail, integer, listed, number

    for key in ("kernel", "dense", "n_classes"):
        integer(f"model.{key}", m[key], 1)
    widths = listed("model.widths", m["widths"])
    for i, width in enumerate(widths):
        integer(f"model.widths[{i}]", width, 1)
    shape = m["input_shape"]
    if not isinstance(shape, list) or len(shape) != 2:
        fail("model.input_shape", shape, "[mel bands, frames], e.g. [40, 500]")
    for i, n in enumerate(shape):
        integer(f"model.input_shape[{i}]", n, 1)
    pools = m["pools"]
    if not isinstance(pools, list) or len(pools) != len(widths):
        fail("model.pools", pools, f"one entry per conv layer ({len(widths)}): null or [rows, columns]")
    for i, pool in enumerate(pools):
        if pool is not None and not (
            isinstance(pool, list) and len(pool) == 2 and all(isinstance(v, int) and v >= 1 for v in pool)
        ):
            fail(f"model.pools[{i}]", pool, "null or [rows, columns] of integers >= 1")
    number("model.dropout", m["dropout"], 0.0, 1.0, low_open=False, high_open=True)
    number("model.bn_eps", m["bn_eps"], 0.0, 1.0)
    # torch's momentum: the weight of the new batch statistics (Keras' 0.99 is torch's 0.01)
    number("model.bn_momentum", m["bn_momentum"], 0.0, 1.0)
    try:
        spec = normalise_spec({k: v for k, v in m.items() if k != "name"})
        check_shape(spec)
        layers = conv_names(spec)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model: {err}") from None
    return layers
