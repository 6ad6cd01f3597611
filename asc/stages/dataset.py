"""Stage ``dataset``: the demo set is generated into the store; the real TAU set is downloaded into dataset.root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def build(
    dataset: Mapping[str, Any], *, work: Path | None, workers: int, progress: bool | None
) -> dict[str, Any]:
    """Bring the dataset into being; returns the manifest fields. ``work`` is the demo's store folder (None for
    TAU, which lives at ``dataset.root`` and checks itself)."""
    if dataset["name"] == "demo":
        from asc.data import demo

        return demo.generate({**dataset, "workers": workers}, work, progress)
    from asc.data.prepare import prepare_tau

    return {"root": str(prepare_tau(dataset, progress=progress))}
