"""Stage ``features``: log-mel arrays per fold (fold1_train, fold1_evaluate) + normalisation statistics.

Stored per fold rather than per split, so a different validation hold-out (another seed, the official draw)
reuses them: on the real set that is a 30 GB decoding pass saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from asc.data import tau
from asc.features import FrontEnd, build_features


def build(
    root: Path, work: Path, *, frontend: FrontEnd, clip_seconds: float, batch_size: int, workers: int,
    device: torch.device, progress: bool | None,
) -> dict[str, Any]:  # fmt: skip
    table = tau.read_folds(root)  # split = the fold: train | evaluate
    return build_features(root, table, frontend, work, clip_seconds=clip_seconds, batch_size=batch_size,
                          workers=workers, device=device, progress=progress)  # fmt: skip
