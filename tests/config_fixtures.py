"""The composed, resolved config (what the CLI sees), for tests that need one group of it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from asc.core.config_cache import cache_config_files

CONF = Path(__file__).resolve().parents[1] / "conf"

# The demo in seconds, as CLI overrides: one city, 3 train locations x 2 devices + 1 evaluation location x 5 devices
# per scene, one segment each (110 clips). The one list the end-to-end tests start from.
TINY_DEMO_DATA = (
    "dataset.cities=[barcelona]",
    "dataset.train_locations=3",
    "dataset.evaluate_locations=1",
    "dataset.segments_per_location=1",
)

# The report's figures as one small PNG each, for the end-to-end tests: they check what is drawn, not print quality
# (a 300-dpi PNG and a PDF of every figure cost seconds a report; test_figures and test_cli write those).
QUICK_FIGURES = ("runtime.figures.formats=[png]", "runtime.figures.dpi=40")
# No figure at all (the tables alone): the end-to-end tests whose subject is neither the report nor its figures
# (test_figures*, test_report*, test_cli and test_experiments draw them).
NO_FIGURES = ("runtime.figures.formats=[]",)


@lru_cache(maxsize=1024)  # a worker composes a few hundred distinct configs, tens of kB each
def _composed(overrides: tuple[str, ...]) -> dict[str, Any]:
    cache_config_files()  # as the CLI and asc.compose compose
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def composed(*overrides: str) -> dict[str, Any]:
    """conf/config.yaml composed with ``overrides`` and resolved (a fresh copy per call)."""
    import copy

    return copy.deepcopy(_composed(tuple(overrides)))
