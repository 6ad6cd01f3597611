"""Filter representatives and the distance / similarity matrices built on them (docs/pruning.md).

Filter i of a conv layer (shape c_in × kh × kw) becomes a matrix A_i of shape (kh·kw) × c_in: one column per
input channel, holding that channel's spatial weights stacked row-major. Its best rank-1 approximation
σ1·u1·v1ᵀ has parallel columns; the authors take the first column and normalise it, which is
r_i = sign(v1[0])·u1. Unlike u1 itself this does not depend on the sign the SVD routine happens to return.

Everything here is batched over the n filters of a layer (one ``torch.linalg.svd`` call on the (n, kh·kw, c_in)
stack, one matrix product for all pairs) and runs in float64, so near-ties in the distances are decided by the
weights rather than by rounding noise.

Degenerate filters. An all-zero filter has no direction: its representative is the zero vector (for every c_in;
an SVD of a zero matrix would return an arbitrary unit vector), and its cosine similarity is defined as 1 with
itself and with every other zero filter (they are the same filter: distance 0, so Algorithm 1 prunes all but the
lowest-index one first) and 0 with any non-zero filter (orthogonal: distance 1). A constant non-zero filter is
an ordinary one: its representative is the normalised constant vector, and two such filters of the same sign are
at distance 0. Layers without zero filters get exactly the numbers they got before this rule.
"""

from __future__ import annotations

import torch

# |v1[k]| below this counts as zero when choosing the sign (see _sign_of_first_entry).
_SIGN_TOL = 1e-12


def filter_matrices(weight: torch.Tensor) -> torch.Tensor:
    """(n, c_in, kh, kw) conv weight → (n, kh·kw, c_in) stack of A_i (row k = spatial position y·kw + x)."""
    n, c_in, kh, kw = weight.shape
    return weight.detach().to(torch.float64).permute(0, 2, 3, 1).reshape(n, kh * kw, c_in)


def _sign_of_first_entry(v: torch.Tensor) -> torch.Tensor:
    """Sign of v[:, 0] per row, falling back to the first entry that is not ~0.

    The first column of the rank-1 matrix is σ1·v1[0]·u1; if v1[0] is exactly 0 that column vanishes and the
    authors' code would divide by zero. Using the first non-zero entry keeps r_i unique and finite.
    """
    nonzero = v.abs() > _SIGN_TOL * v.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)
    first = nonzero.to(torch.int64).argmax(dim=1)  # argmax returns the first True
    sign = torch.sign(v.gather(1, first[:, None]).squeeze(1))
    return torch.where(sign == 0, torch.ones_like(sign), sign)  # an all-zero filter: any sign will do


def _top_singular_vectors(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u1 (n, rows) and v1 (n, cols) of every matrix in the stack, by one batched SVD.

    The SVD runs on whichever orientation is tall: torch's CPU batched SVD of wide matrices (9 × 64 for a 3×3
    kernel on 64 channels) is ~10-20× slower than of their transposes, and Aᵀ = V S Uᵀ gives the same vectors.
    """
    if a.shape[1] >= a.shape[2]:
        u, _, vh = torch.linalg.svd(a, full_matrices=False)
        return u[:, :, 0], vh[:, 0, :]
    u, _, vh = torch.linalg.svd(a.mT, full_matrices=False)
    return vh[:, 0, :], u[:, :, 0]


def representatives(weight: torch.Tensor) -> torch.Tensor:
    """Unit-norm representative r_i for every filter: (n, c_in, kh, kw) → (n, kh·kw) float64.

    For c_in = 1 (layer C1) A_i is a single column, so r_i is simply the normalised filter. An all-zero filter
    gets the zero representative (see the module docstring for its similarities).
    """
    a = filter_matrices(weight)
    if a.shape[2] == 1:
        r = a[:, :, 0]
    else:
        u1, v1 = _top_singular_vectors(a)
        r = _sign_of_first_entry(v1)[:, None] * u1
        r = torch.where(zero_filters(a)[:, None], torch.zeros_like(r), r)
    return torch.nn.functional.normalize(r, dim=1)


def zero_filters(weight: torch.Tensor) -> torch.Tensor:
    """Boolean (n,): filter i is all zeros (any tensor with the filters on its first axis)."""
    return ~weight.detach().flatten(1).ne(0).any(dim=1)


def _zero_rule(s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Similarity 1 between zero representatives (diagonal included); their other entries are already 0."""
    zero = zero_filters(r)
    if zero.any():
        s = s.masked_fill(zero[:, None] & zero[None, :], 1.0)
    return s


def _symmetric(m: torch.Tensor) -> torch.Tensor:
    """Make an n×n matrix exactly symmetric so that mutual nearest neighbours tie exactly (see Algorithm 1)."""
    return 0.5 * (m + m.T)


def cosine_similarity(r: torch.Tensor) -> torch.Tensor:
    """S[i, j] = cos(r_i, r_j) for unit (or zero) rows r (signed, not absolute); zero rows as in the module
    docstring."""
    return _zero_rule(_symmetric(r @ r.T), r)


def cosine_distance(r: torch.Tensor) -> torch.Tensor:
    """D[i, j] = 1 − cos(r_i, r_j): the distance of Algorithm 1."""
    return 1.0 - cosine_similarity(r)


def chebyshev_distance(r: torch.Tensor) -> torch.Tensor:
    """D[i, j] = max_k |r_i[k] − r_j[k]| on the representatives (the paper's Chebyshev variant)."""
    return _symmetric(torch.cdist(r, r, p=float("inf")))


def closest_distance(weight: torch.Tensor) -> torch.Tensor:
    """Cosine distance of every filter to its closest *other* filter (the data of the paper's Fig. 2)."""
    d = cosine_distance(representatives(weight))
    if d.shape[0] < 2:
        return torch.full((d.shape[0],), float("nan"), dtype=d.dtype)
    return d.fill_diagonal_(float("inf")).amin(dim=1)


def choose_landmarks(r: torch.Tensor, m: int, how: str = "first", seed: int = 0) -> torch.Tensor:
    """Indices of m landmark filters for Nyström: ``first`` (the authors' code), ``random`` or ``kmeans++``.

    kmeans++ draws each next landmark with probability ∝ the squared distance of a filter to its nearest chosen
    landmark, which spreads the landmarks over the representative space (fewer wasted, near-duplicate columns).
    """
    n = r.shape[0]
    m = max(1, min(int(m), n))
    gen = torch.Generator().manual_seed(int(seed))
    if how == "first":
        return torch.arange(m)
    if how == "random":
        return torch.randperm(n, generator=gen)[:m].sort().values
    if how == "kmeans++":
        chosen = [int(torch.randint(n, (1,), generator=gen))]
        nearest = ((r - r[chosen[0]]) ** 2).sum(dim=1)
        for _ in range(m - 1):
            if float(nearest.sum()) <= 0:  # all remaining filters coincide with a landmark
                rest = [i for i in range(n) if i not in chosen]
                chosen.append(rest[0])
            else:
                chosen.append(int(torch.multinomial(nearest, 1, generator=gen)))
            nearest = torch.minimum(nearest, ((r - r[chosen[-1]]) ** 2).sum(dim=1))
        return torch.tensor(sorted(chosen))
    raise ValueError(f"prune.landmark_choice={how!r} is not one of first, random, kmeans++")


def nystrom_similarity(r: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """Nyström approximation of the cosine-similarity matrix RᵀR from the landmark columns only.

    C = RᵀR[:, L] (n × m), W = C[L, :] (m × m), S ≈ C · pinv(W) · Cᵀ. It is exact once the landmark
    representatives span the span of all representatives, i.e. generically once m ≥ rank(R) (≤ kh·kw).
    Zero rows (zero filters) get the exact matrix's entries (module docstring): their rows of C are zero.
    """
    c = r @ r[landmarks].T
    w = c[landmarks]
    return _zero_rule(_symmetric(c @ torch.linalg.pinv(w, hermitian=True) @ c.T), r)
