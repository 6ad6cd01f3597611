"""Nyström (ICASSP 2023): Algorithm 1 on a low-rank approximation of the cosine-similarity matrix.

``landmarks`` is one int for every layer, a per-layer mapping ``{C1: 4, C2: 9, C3: 9}``, or ``auto`` — the
smallest m whose kept set equals the exact cosine one (what the authors did by hand per layer). Algorithm 1's
fidelity options (``round_decimals``, ``partner``) apply to the exact and the approximate matrix alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from . import representatives as rep
from .algorithm1 import algorithm1
from .criteria import Selection, register


def layer_landmarks(opts: Mapping[str, Any]) -> int | str:
    """This layer's ``landmarks`` value: an int ≥ 1 or ``"auto"`` (``opts["layer"]`` names the layer)."""
    value = opts.get("landmarks", 8)
    layer = opts.get("layer")
    if isinstance(value, Mapping):
        if layer not in value:
            raise ValueError(
                f"prune.landmarks={dict(value)} has no entry for layer {layer}; give every pruned layer an m "
                "(or auto), or one int for all"
            )
        value = value[layer]
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"prune.landmarks for {layer}: {value!r} is not an int ≥ 1 or auto")
    return value


def smallest_exact_landmarks(
    r: torch.Tensor, exact_kept: list[int], opts: Mapping[str, Any]
) -> tuple[int, torch.Tensor, list[int]]:
    """The smallest m (1 … n) whose Nyström kept set equals ``exact_kept``; with none, m = n (the whole matrix).

    Returns (m, landmark indices, kept). Linear search: the answer is ≤ rank(R) + 1 in practice (≤ kh·kw + 1).
    """
    n = r.shape[0]
    choice, seed = opts.get("landmark_choice", "first"), opts.get("seed", 0)
    for m in range(1, n + 1):
        idx = rep.choose_landmarks(r, m, choice, seed)
        kept = algorithm1(1.0 - rep.nystrom_similarity(r, idx), opts)
        if kept == exact_kept:
            return m, idx, kept
    return n, idx, kept


@register("nystrom")
def nystrom(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on the Nyström similarity of the layer's representatives (:func:`nystrom_on`)."""
    return nystrom_on(rep.representatives(weight), opts)


def nystrom_on(r: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on 1 − S, S the Nyström approximation of the cosine similarity from ``landmarks`` columns.

    Extras per layer: nystrom_landmarks (indices), nystrom_m, nystrom_error (relative Frobenius error of S against
    the exact matrix), kept_equals_exact, similarity_s / exact_similarity_s (the similarity step alone, exact =
    the vectorised n×n product) and nystrom_speedup = exact_similarity_s / similarity_s. ``r`` (n, d): unit
    representatives of one layer, or a coupled group's super-filters (asc/prune/group_criteria.py).
    """
    start = time.perf_counter()
    exact = rep.cosine_similarity(r)
    t_exact = time.perf_counter() - start
    exact_kept = algorithm1(1.0 - exact, opts)
    m = layer_landmarks(opts)
    if m == "auto":
        m, idx, kept = smallest_exact_landmarks(r, exact_kept, opts)
    else:
        idx = rep.choose_landmarks(r, m, opts.get("landmark_choice", "first"), opts.get("seed", 0))
    start = time.perf_counter()
    approx = rep.nystrom_similarity(r, idx)
    t_nys = time.perf_counter() - start
    kept = algorithm1(1.0 - approx, opts)
    err = float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact).clamp_min(1e-300))
    extras = {
        "nystrom_error": err,
        "nystrom_landmarks": idx.tolist(),
        "nystrom_m": int(len(idx)),
        "kept_equals_exact": kept == exact_kept,
        "similarity_s": t_nys,
        "exact_similarity_s": t_exact,
        "nystrom_speedup": t_exact / max(t_nys, 1e-12),
    }
    return Selection(kept, extras=extras)
