"""asc.core.config_cache: Hydra's compositions read each config file once per process, and see what a fresh read
gives (the same composed configs; a file edited in between read again; a caller's change never reaches the cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_fixtures import _composed, composed

from asc.core.config_cache import CACHED_SCHEMES, cache_config_files

SAMPLE = [  # an experiment of each kind (its own defaults list), other groups' options, a plugin's config
    "experiment=paper",
    "experiment=epanns",
    "experiment=dcase2025",
    "model=panns_cnn14",
    "dataset=fsd50k",
    "protocol=authors",
    "prune=given",
    "hydra/launcher=parallel",
]


def _sources() -> list[type]:
    from hydra._internal.sources_registry import SourcesRegistry

    cache_config_files()
    return [SourcesRegistry.instance().resolve(scheme) for scheme in CACHED_SCHEMES]


def test_compositions_equal_hydras_own_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    _composed.cache_clear()
    cached = [composed(o) for o in SAMPLE]
    for source in _sources():
        assert source.load_config.asc_cached
        monkeypatch.setattr(source, "load_config", source.load_config.__wrapped__)  # Hydra's own
    _composed.cache_clear()
    stock = [composed(o) for o in SAMPLE]
    _composed.cache_clear()
    for overrides, a, b in zip(SAMPLE, cached, stock, strict=True):
        assert a == b, overrides


def test_an_edited_file_is_read_again_and_a_copy_is_never_shared(tmp_path: Path) -> None:
    file_source = _sources()[0]
    cache_config_files()  # a second call wraps nothing twice
    assert not getattr(file_source.load_config.__wrapped__, "asc_cached", False)
    source = file_source(provider="test", path=f"file://{tmp_path}")
    (tmp_path / "mine.yaml").write_text("lr: 0.1\n")
    first = source.load_config("mine.yaml")
    assert first.config.lr == 0.1
    first.config.lr = 5.0  # Hydra merges into what it loaded: the next read is a fresh one
    assert source.load_config("mine.yaml").config.lr == 0.1
    (tmp_path / "mine.yaml").write_text("lr: 0.01\nwd: 0\n")
    assert source.load_config("mine.yaml").config == {"lr": 0.01, "wd": 0}
