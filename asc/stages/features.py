"""Stage ``features``: log-mel arrays per fold (fold1_train, fold1_evaluate) + normalisation statistics.

Stored per fold rather than per split, so a different validation hold-out (another seed, the official draw)
reuses them: on the real set that is a 30 GB decoding pass saved. A features-only dataset (the stand-in) renders
the same files instead of decoding audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from asc.data import tau
from asc.features import FrontEnd, build_features


def build(
    root: Path,
    work: Path,
    *,
    frontend: FrontEnd,
    clip_seconds: float,
    batch_size: int,
    workers: int,
    device: torch.device,
    progress: bool | None,
    render_seed: int | None = None,
) -> dict[str, Any]:
    """``render_seed``: the dataset is the stand-in, render its features with this seed (its dataset.seed)."""
    if render_seed is not None:
        from asc.data.standin import render_features

        table = tau.read_folds(root, audio=False)
        return render_features(
            table, work, seed=render_seed, n_mels=frontend.n_mels, frames=frontend.frames, progress=progress
        )
    table = tau.read_folds(root)  # split = the fold: train | evaluate
    return build_features(
        root,
        table,
        frontend,
        work,
        clip_seconds=clip_seconds,
        batch_size=batch_size,
        workers=workers,
        device=device,
        progress=progress,
    )
