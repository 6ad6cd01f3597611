"""Filter representatives (rank-1 SVD, sign convention) and the Nyström similarity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asc.prune import representatives as rep


def _closed_form(weight: torch.Tensor) -> np.ndarray:
    """Per-filter numpy reference: first column of the rank-1 approximation σ1·u1·v1ᵀ, normalised.

    u1·v1ᵀ does not depend on the SVD's sign choice, so this is sign-free by construction."""
    out = []
    for w in weight.double().numpy():
        a = w.transpose(1, 2, 0).reshape(-1, w.shape[0])  # (kh·kw, c_in), row-major spatial
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        col = s[0] * u[:, 0] * vt[0, 0]
        out.append(col / np.linalg.norm(col))
    return np.stack(out)


@pytest.mark.parametrize("c_in,k", [(16, 7), (64, 3), (5, 3)])  # tall and wide A_i (kh·kw vs c_in)
def test_batched_representatives_match_per_filter_closed_form(c_in: int, k: int) -> None:
    weight = torch.randn(12, c_in, k, k, generator=torch.Generator().manual_seed(1))
    r = rep.representatives(weight)
    assert r.shape == (12, k * k)
    np.testing.assert_allclose(r.numpy(), _closed_form(weight), atol=1e-10)
    np.testing.assert_allclose(r.norm(dim=1).numpy(), 1.0, atol=1e-12)


def test_filter_matrix_layout_is_spatial_rows_channel_columns() -> None:
    weight = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    a = rep.filter_matrices(weight)
    assert a.shape == (2, 4, 3)
    # column c of A_0 is channel c's 2×2 kernel stacked row-major
    assert a[0, :, 1].tolist() == weight[0, 1].flatten().tolist()


@pytest.mark.parametrize("c_in,k", [(16, 7), (64, 3)])
def test_representatives_do_not_depend_on_svd_signs(
    monkeypatch: pytest.MonkeyPatch, c_in: int, k: int
) -> None:
    weight = torch.randn(10, c_in, k, k, generator=torch.Generator().manual_seed(2))
    expected = rep.representatives(weight)
    real_svd = torch.linalg.svd

    def flipped_svd(a: torch.Tensor, full_matrices: bool = True):
        u, s, vh = real_svd(a, full_matrices=full_matrices)
        u, vh = u.clone(), vh.clone()
        u[..., :, 0] *= -1  # σ1·u1·v1ᵀ is unchanged, the vectors are not
        vh[..., 0, :] *= -1
        return u, s, vh

    monkeypatch.setattr(torch.linalg, "svd", flipped_svd)
    torch.testing.assert_close(rep.representatives(weight), expected, atol=1e-12, rtol=0)


def test_rank1_filter_gives_signed_spatial_factor() -> None:
    a = torch.tensor([1.0, -2.0, 0.5, 3.0])  # spatial factor (2×2 kernel)
    for b, sign in ([(-1.0, 2.0, 3.0), -1.0], [(0.0, -2.0, 1.0), -1.0], [(0.0, 0.0, 4.0), 1.0]):
        b = torch.tensor(b)  # channel factor; the sign comes from the first non-zero entry of v1
        weight = torch.outer(a, b).T.reshape(1, 3, 2, 2)
        torch.testing.assert_close(rep.representatives(weight)[0], sign * (a / a.norm()).double())
    # "first column" convention: negating a filter negates its representative
    w = torch.randn(4, 8, 3, 3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(rep.representatives(-w), -rep.representatives(w))


def test_c1_representative_is_the_normalised_filter() -> None:
    weight = torch.randn(16, 1, 7, 7, generator=torch.Generator().manual_seed(4))
    expected = weight.flatten(1).double()
    torch.testing.assert_close(rep.representatives(weight), expected / expected.norm(dim=1, keepdim=True))


def test_distances_are_symmetric_with_zero_diagonal() -> None:
    r = rep.representatives(torch.randn(9, 4, 3, 3, generator=torch.Generator().manual_seed(5)))
    for d in (rep.cosine_distance(r), rep.chebyshev_distance(r)):
        assert torch.equal(d, d.T)
        assert d.diagonal().abs().max() < 1e-12
    cheb = rep.chebyshev_distance(r)
    assert cheb[0, 1] == (r[0] - r[1]).abs().max()


def test_closest_distance_is_row_minimum_off_diagonal() -> None:
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(6))
    d = rep.cosine_distance(rep.representatives(w))
    expected = [min(d[i, j].item() for j in range(6) if j != i) for i in range(6)]
    np.testing.assert_allclose(rep.closest_distance(w).numpy(), expected)


@pytest.mark.parametrize("how", ["first", "random", "kmeans++"])
def test_nystrom_is_exact_once_landmarks_reach_the_rank(how: str) -> None:
    # 3×3 kernels: representatives live in R^9, so rank(R) ≤ 9
    r = rep.representatives(torch.randn(20, 8, 3, 3, generator=torch.Generator().manual_seed(7)))
    idx = rep.choose_landmarks(r, 9, how, seed=1)
    assert len(set(idx.tolist())) == 9 and idx.max() < 20
    torch.testing.assert_close(rep.nystrom_similarity(r, idx), rep.cosine_similarity(r), atol=1e-9, rtol=0)
    # with fewer landmarks than the rank it is only an approximation
    few = rep.choose_landmarks(r, 3, how, seed=1)
    assert (rep.nystrom_similarity(r, few) - rep.cosine_similarity(r)).abs().max() > 1e-3


def test_unknown_landmark_choice_is_rejected() -> None:
    with pytest.raises(ValueError, match="kmeans"):
        rep.choose_landmarks(torch.eye(3, dtype=torch.float64), 2, "best")
