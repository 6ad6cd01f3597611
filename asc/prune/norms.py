"""Ratio criteria of the authors' later papers: operator norm (TASLP) and their "GM" baseline.

Both follow the authors' released scoring functions (Efficient_CNNs_passive_filter_pruning, Proposed_pruning.py:
``operator_norm_pruning`` and ``GM_Imp_index``) on our (n, c_in, kh, kw) weights, whose per-channel kh·kw slice
is flattened row-major exactly like their Keras (kh, kw) → kh·kw reshape. Filters with the highest score are
kept; how many follows ``ratio`` / ``match`` as for l1 (their code prunes ceil(P·n); ``ratio`` here rounds half
up — the same count for the paper's 25/50/75 % of even layer widths).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .criteria import Selection, duplicate_filters, keep_highest, n_keep, register


def operator_norm_scores(weight: torch.Tensor) -> np.ndarray:
    """score_i = (Σ_c ⟨w_{i,c} − μ_c, v_c⟩)², normalised by its maximum.

    For input channel c, the n slices w_{i,c} (kh·kw vectors) are centred on their mean μ_c over filters, and v_c
    is the top right-singular vector of that centred n × kh·kw matrix, signed like the authors' ``c_1[0, :]``:
    v_c·sign(u1[0]), i.e. so that filter 0 projects non-negatively (the first non-zero u1 entry if u1[0] = 0,
    where their code would divide by zero). The score is the squared length of the filter's centred projection
    onto the rank-1 "operator" direction, summed over channels before squaring.
    """
    w = weight.detach().to(torch.float64).flatten(2).permute(1, 0, 2)  # (c_in, n, kh·kw)
    mean = w.mean(dim=1, keepdim=True)
    centred = w - mean
    u, _, vh = torch.linalg.svd(centred, full_matrices=False)
    u1, v1 = u[:, :, 0], vh[:, 0, :]  # (c_in, n), (c_in, kh·kw)
    tol = 1e-12 * u1.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)
    first = (u1.abs() > tol).to(torch.int64).argmax(dim=1)  # first entry that is not ~0
    sign = torch.sign(u1.gather(1, first[:, None]))
    direction = torch.where(sign == 0, torch.ones_like(sign), sign) * v1
    score = torch.einsum("cnk,ck->n", centred, direction) ** 2
    return (score / score.max().clamp_min(1e-300)).numpy()


def _gmean_nonzero(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Geometric mean of the non-zero entries, as scipy.stats.mstats.gmean computes it (np.ma.log masks zeros);
    0 where every entry is 0."""
    nonzero = a > 0
    logs = np.log(np.where(nonzero, a, 1.0))
    count = nonzero.sum(axis=axis)
    return np.where(count > 0, np.exp(logs.sum(axis=axis) / np.maximum(count, 1)), 0.0)


def gm_scores(weight: torch.Tensor) -> np.ndarray:
    """score_i = (gmean|W| − gmean|W_i|)², normalised by its maximum: the distance of a filter's geometric-mean
    magnitude from the layer's (the authors' "GM" baseline; not FPGM)."""
    a = weight.detach().to(torch.float64).abs().flatten(1).numpy()
    score = (_gmean_nonzero(a) - _gmean_nonzero(a, axis=1)) ** 2
    return score / max(float(score.max()), 1e-300)


@register("operator_norm")
def operator_norm(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Singh & Plumbley (TASLP): keep the filters with the highest operator-norm score; exact copies go first."""
    score = operator_norm_scores(weight)
    kept = keep_highest(score, n_keep(weight, opts), duplicate_filters(weight))
    return Selection(kept, extras={"score": score.tolist()})


@register("gm")
def gm(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """The authors' geometric-mean baseline: keep the filters whose gmean|W_i| is farthest from the layer's;
    exact copies go first. A lone zero filter (gmean of no non-zero entry: 0) is far from the layer's and stays."""
    score = gm_scores(weight)
    kept = keep_highest(score, n_keep(weight, opts), duplicate_filters(weight))
    return Selection(kept, extras={"score": score.tolist()})
