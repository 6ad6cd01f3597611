"""Timing of the similarity step + Algorithm 1 for one large conv layer: exact cosine vs Nyström.

``python -m asc.prune.benchmark`` prints a table; ``scripts/bench.py`` imports :func:`similarity_benchmark`.
The exact baseline is the *vectorised* n×n matrix product (not a Python double loop, against which the ICASSP
2023 paper measured its speed-up), so the ratio here is the honest one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from . import representatives as rep
from .algorithm1 import greedy_select
from .nystrom import smallest_exact_landmarks


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """Result and minimum wall time over ``repeats`` runs (the minimum is the least noisy estimate)."""
    best = float("inf")
    out = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def similarity_benchmark(
    sizes: Sequence[int] = (64, 512, 2048),
    c_in: int = 64,
    landmarks: int = 9,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per layer size n (filters of 3×3×c_in, random normal weights).

    Columns: n, c_in, landmarks; representatives_s (batched SVD); exact_similarity_s / nystrom_similarity_s
    (the n×n matrix only); exact_total_s / nystrom_total_s (similarity + Algorithm 1, what pruning a layer
    costs after the representatives); speedup = exact_similarity_s / nystrom_similarity_s; kept_exact,
    kept_nystrom (counts), kept_equal, nystrom_error (relative Frobenius error of the similarity matrix);
    auto_landmarks = the smallest m whose kept set equals the exact one (what ``landmarks: auto`` picks).
    """
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for n in sizes:
        weight = torch.randn(int(n), c_in, 3, 3, generator=gen)
        r, t_rep = _best_of(lambda w=weight: rep.representatives(w), repeats)
        idx = rep.choose_landmarks(r, landmarks, "first")
        exact, t_exact = _best_of(lambda r=r: rep.cosine_similarity(r), repeats)
        approx, t_nys = _best_of(lambda r=r, idx=idx: rep.nystrom_similarity(r, idx), repeats)
        kept_exact, t_exact_total = _best_of(
            lambda r=r: greedy_select(1.0 - rep.cosine_similarity(r)), repeats
        )
        kept_nys, t_nys_total = _best_of(
            lambda r=r, idx=idx: greedy_select(1.0 - rep.nystrom_similarity(r, idx)), repeats
        )
        rows.append(
            {
                "n": int(n),
                "c_in": c_in,
                "landmarks": int(len(idx)),
                "representatives_s": t_rep,
                "exact_similarity_s": t_exact,
                "nystrom_similarity_s": t_nys,
                "exact_total_s": t_exact_total,
                "nystrom_total_s": t_nys_total,
                "speedup": t_exact / max(t_nys, 1e-12),
                "kept_exact": len(kept_exact),
                "kept_nystrom": len(kept_nys),
                "kept_equal": kept_exact == kept_nys,
                "nystrom_error": float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact)),
                "auto_landmarks": smallest_exact_landmarks(r, kept_exact, {})[0],
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'n':>6} {'reps ms':>9} {'exact ms':>9} {'nys ms':>9} {'speedup':>8} "
        f"{'exact+A1 ms':>12} {'nys+A1 ms':>10} {'kept':>11} {'equal':>6} {'error':>9} {'auto m':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['n']:>6} {1e3 * r['representatives_s']:>9.2f} {1e3 * r['exact_similarity_s']:>9.2f} "
            f"{1e3 * r['nystrom_similarity_s']:>9.2f} {r['speedup']:>8.2f} {1e3 * r['exact_total_s']:>12.2f} "
            f"{1e3 * r['nystrom_total_s']:>10.2f} {r['kept_exact']:>5}/{r['kept_nystrom']:<5} "
            f"{str(r['kept_equal']):>6} {r['nystrom_error']:>9.1e} {r['auto_landmarks']:>7}"
        )
    return "\n".join(lines)


def main() -> None:
    rows = similarity_benchmark()
    print(
        f"one layer of n filters 3×3×{rows[0]['c_in']}, {rows[0]['landmarks']} Nyström landmarks, "
        f"{torch.get_num_threads()} threads, best of 3"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
