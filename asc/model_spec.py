"""The DCASE 2021 Task 1A baseline CNN's *spec* (widths, kernel, pools, ...), without torch: what planning checks
and what asc/model.py builds. Defaults and their sources: asc/model.py and docs/dcase2021_baseline.md.
"""

from __future__ import annotations

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
