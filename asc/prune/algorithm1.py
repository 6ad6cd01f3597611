"""Algorithm 1 of the paper (Singh & Plumbley, Interspeech 2022), shared by the similarity criteria (cosine,
chebyshev, average, nystrom: asc/prune/criteria.py, asc/prune/nystrom.py): from an n×n distance matrix between a
layer's filters, pair each filter with its closest other one and keep, walking the pairs from the closest, each
filter that no earlier pair marked redundant.

Ties are decided by the lower filter index (every sort is stable), so runs are reproducible; the fidelity options
``round_decimals`` and ``partner`` reproduce the authors' code (see :func:`closest_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .options import OPTION_CHOICES

PARTNERS = OPTION_CHOICES["partner"]


def closest_pairs(dist: torch.Tensor, partner: str = "argmin") -> tuple[np.ndarray, np.ndarray]:
    """For each i its closest other filter m(i) and that distance.

    ``argmin`` (default): m(i) = argmin_{j≠i} D[i, j]; torch.argmin returns the first minimum, so a row with equal
    distances picks the lowest j. ``argsort1``: the authors' ``np.argsort(D[i])[1]``, the second entry of the
    whole row *including* i itself (stable order here) — it differs when another filter ties with D[i, i] (e.g.
    after rounding): for j < i with D[i, j] = D[i, i] their rule partners i with itself.
    """
    if partner == "argsort1":
        d = dist.numpy()
        m = np.argsort(d, axis=1, kind="stable")[:, 1]
        return m, d[np.arange(len(m)), m]
    if partner != "argmin":
        raise ValueError(f"prune.partner={partner!r} is not one of {', '.join(PARTNERS)}")
    d = dist.clone().fill_diagonal_(float("inf"))
    m = d.argmin(dim=1)
    return m.numpy(), d.gather(1, m[:, None]).squeeze(1).numpy()


def greedy_select(dist: torch.Tensor, partner: str = "argmin") -> list[int]:
    """Algorithm 1 on an n×n distance matrix → indices of the important (kept) filters, ascending.

    The n triples (i, m(i), d) are sorted by d with a *stable* sort, i.e. equal distances keep ascending i — so of
    a mutual nearest pair (which tie exactly, the matrices are symmetrised) the lower index is kept. Walking the
    sorted list, i is kept unless an earlier pair already marked it redundant; m(i) is then marked redundant even if
    it was kept earlier (the paper's Algorithm 1: a kept filter may also be someone's redundant partner).
    """
    n = dist.shape[0]
    if n < 2:
        return list(range(n))
    m, d = closest_pairs(dist, partner)
    redundant = np.zeros(n, dtype=bool)
    kept = []
    for i in np.argsort(d, kind="stable"):  # O(n) walk; the O(n²) work above is vectorised
        if not redundant[i]:
            kept.append(int(i))
            redundant[m[i]] = True
    return sorted(kept)


def rounded(dist: torch.Tensor, decimals: int | None) -> torch.Tensor:
    """The authors' ``np.round(D, decimals)`` (half to even) before Algorithm 1; None leaves D as it is."""
    return dist if decimals is None else torch.from_numpy(np.round(dist.numpy(), int(decimals)))


def algorithm1(dist: torch.Tensor, opts: Mapping[str, Any]) -> list[int]:
    """Algorithm 1 with the fidelity options ``round_decimals`` (null | 5) and ``partner`` (argmin | argsort1)."""
    return greedy_select(rounded(dist, opts.get("round_decimals")), opts.get("partner", "argmin"))
