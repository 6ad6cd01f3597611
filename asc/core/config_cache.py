"""One read of each config file per process, however many times Hydra composes.

Hydra parses every file of the defaults list again on each composition (PyYAML's Python parser, then a DictConfig
of every node): ~25 files, about 40 % of a composition's time. asc composes often in one process: Hydra itself twice
per command (its mode, then the job), once per job of a sweep checked at planning (asc.app.sweep.check_job), and the
test suite about a thousand times. :func:`cache_config_files` keeps each file's parsed result and hands Hydra a deep
copy of it on every read (5× cheaper than parsing it again), so every composition sees exactly what a fresh read
gives. A file is read again when its modification time or size changes (a user's ``hydra.searchpath`` folder edited
while a notebook runs); a package's own files (Hydra's ``pkg://`` configs) do not change while a process runs.

It wraps ``load_config`` of the config sources that Hydra registered for the ``file`` and ``pkg`` schemes
(hydra._internal.sources_registry, hydra-core 1.3): where that registry is not as expected (another Hydra), nothing
is wrapped and Hydra reads files as it always did.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from typing import Any

CACHED_SCHEMES = ("file", "pkg")


def _file_stamp(source: Any, config_path: str) -> tuple[int, int] | None:
    """(mtime in ns, size in bytes) of a ``file://`` source's file, None if it has none (Hydra reports that)."""
    try:
        full = os.path.join(source.path, source._normalize_file_name(config_path))
        st = os.stat(full)
    except (OSError, AttributeError):
        return None
    return st.st_mtime_ns, st.st_size


def _cached(load_config: Any) -> Any:
    results: dict[tuple[Any, ...], Any] = {}

    @functools.wraps(load_config)
    def load(self: Any, config_path: str) -> Any:
        stamp = _file_stamp(self, config_path) if self.scheme() == "file" else ()
        if stamp is None:
            return load_config(self, config_path)
        key = (type(self), self.path, config_path, stamp)
        if key not in results:
            results[key] = load_config(self, config_path)
        hit = results[key]
        return dataclasses.replace(hit, config=copy.deepcopy(hit.config), header=dict(hit.header))

    load.asc_cached = True
    return load


def cache_config_files() -> None:
    """Wrap Hydra's ``file`` and ``pkg`` config sources with the per-process cache (idempotent; a no-op where
    Hydra's registry is not the one this was written against)."""
    try:
        from hydra._internal.sources_registry import SourcesRegistry
        from hydra.core.plugins import Plugins

        Plugins.instance()  # registers the config sources (Hydra does it at its first composition anyway)
        sources = [SourcesRegistry.instance().resolve(scheme) for scheme in CACHED_SCHEMES]
    except (ImportError, AttributeError, ValueError):
        return
    for source in sources:
        if not getattr(source.load_config, "asc_cached", False):
            source.load_config = _cached(source.load_config)
