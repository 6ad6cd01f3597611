"""Pruning time, exact cosine similarity vs Nyström, on the conv layers of VGGish_Net and PANNs CNN14.

    python scripts/bench_nystrom_nets.py [--nets vggish_asc,panns_cnn14] [--scale 0.25] [--landmarks 9]
                                         [--repeats 7]

Per prunable conv (random init; only the weights' shapes matter): the time of the similarity matrix and
Algorithm 1 on it, exact (the vectorised n×n product) and Nyström (``landmarks`` columns), best of ``repeats``,
then the total ratio exact / Nyström per network. The ICASSP 2023 paper reports 34.81 s / 11.71 s ≈ 2.97× on
VGGish_Net's six layers, against a Python double loop for the exact matrix (reference/networks.md §1.1); the
exact baseline here is vectorised, so expect a smaller ratio. The filter representatives (one batched SVD per
layer) are computed once and not timed, as in the paper. ``--scale`` divides every width (default 0.25: a
short run on 2 cores; ``--scale 1`` is the published widths and takes minutes, mostly the representatives of
CNN14's 1024- and 2048-filter layers).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from asc.prune import representatives as rep
from asc.prune.algorithm1 import greedy_select

WIDTHS = {"vggish_asc": (64, 128, 256, 256, 512, 512), "panns_cnn14": (64, 128, 256, 512, 1024, 2048)}


def _best(fn, repeats: int) -> tuple[object, float]:
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def convs(name: str, scale: float) -> list[tuple[str, torch.Tensor]]:
    """(C1…Cn, weight) of the network's convs in order, widths scaled."""
    from asc.nets import build  # the network zoo

    widths = [max(2, round(w * scale)) for w in WIDTHS[name]]
    spec = {"name": name, "widths": widths} | (
        {"dense": [max(2, round(4096 * scale)), 128]} if name == "vggish_asc" else {}
    )
    model = build(spec)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return [(f"C{i + 1}", m.weight.detach()) for i, m in enumerate(layers)]


def bench(name: str, scale: float, landmarks: int, repeats: int) -> float:
    print(
        f"{name} (widths × {scale}), {landmarks} landmarks, {torch.get_num_threads()} threads, best of {repeats}"
    )
    print(f"{'layer':>6} {'n':>5} {'exact s':>9} {'nyström s':>10} {'ratio':>6} {'same kept':>9}")
    total_exact = total_nys = 0.0
    for layer, weight in convs(name, scale):
        r = rep.representatives(weight)
        idx = rep.choose_landmarks(r, landmarks, "first")
        kept_e, t_e = _best(lambda r=r: greedy_select(1.0 - rep.cosine_similarity(r)), repeats)
        kept_n, t_n = _best(lambda r=r, i=idx: greedy_select(1.0 - rep.nystrom_similarity(r, i)), repeats)
        total_exact, total_nys = total_exact + t_e, total_nys + t_n
        print(
            f"{layer:>6} {weight.shape[0]:>5} {t_e:>9.4f} {t_n:>10.4f} {t_e / max(t_n, 1e-12):>6.2f} {str(kept_e == kept_n):>9}"
        )
    ratio = total_exact / max(total_nys, 1e-12)
    print(
        f"{'total':>6} {'':>5} {total_exact:>9.4f} {total_nys:>10.4f} {ratio:>6.2f}   (paper, VGGish: 34.81 / 11.71 = 2.97)"
    )
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="vggish_asc,panns_cnn14")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--landmarks", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    for name in args.nets.split(","):
        bench(name.strip(), args.scale, args.landmarks, args.repeats)


if __name__ == "__main__":
    main()
