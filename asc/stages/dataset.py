"""Stage ``dataset``: the demo set is generated into the store; the real TAU set is downloaded into dataset.root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def build(
    dataset: Mapping[str, Any], *, work: Path | None, workers: int, progress: bool | None,
    features_dir: Path | None = None, n_mels: int = 40, frames: int = 500,
) -> dict[str, Any]:  # fmt: skip
    """Bring the dataset into being; returns the manifest fields. ``work`` is the demo's store folder (None for
    TAU, which lives at ``dataset.root`` and checks itself). ``features_dir``, ``n_mels`` and ``frames`` let the
    TAU disk check count the features too, before anything is downloaded."""
    if dataset["name"] == "demo":
        from asc.data import demo

        return demo.generate({**dataset, "workers": workers}, work, progress)
    from asc.data.prepare import prepare_tau

    root = prepare_tau(dataset, progress=progress, features_dir=features_dir, n_mels=n_mels, frames=frames)
    return {"root": str(root)}
