"""Stage ``dataset``: generated sets (demo, stand-in) are built into the store; TAU is downloaded into dataset.root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Built from their config into the data store; any other dataset lives at dataset.root.
GENERATED = ("demo", "standin")
# Metadata without audio: the features stage renders their features and decodes nothing.
FEATURES_ONLY = ("standin",)


def build(
    dataset: Mapping[str, Any],
    *,
    work: Path | None,
    workers: int,
    progress: bool | None,
    features_dir: Path | None = None,
    n_mels: int = 40,
    frames: int = 500,
) -> dict[str, Any]:
    """Bring the dataset into being; returns the manifest fields. ``work`` is a generated set's store folder
    (None for TAU, which lives at ``dataset.root`` and checks itself). ``features_dir``, ``n_mels`` and
    ``frames`` let the TAU disk check count the features too, before anything is downloaded."""
    if dataset["name"] == "demo":
        from asc.data import demo

        return demo.generate({**dataset, "workers": workers}, work, progress)
    if dataset["name"] == "standin":
        from asc.data import standin

        return standin.write_standin(work, seed=int(dataset["seed"]), scale=float(dataset["scale"]))
    from asc.data.prepare import prepare_tau

    root = prepare_tau(dataset, progress=progress, features_dir=features_dir, n_mels=n_mels, frames=frames)
    return {"root": str(root)}
