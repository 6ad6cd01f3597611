"""Config-keyed artifact store.

Every stage writes into ``<root>/<stage>/<key>/`` where ``key`` hashes the config subtree the stage depends on
plus the keys of its upstream artifacts. So a sweep over ``prune=...`` shares the dataset, features and
baseline; changing only ``train.*`` keeps the features; and re-running a command skips what is done.

Building happens in ``<key>.partial/`` under the lock file ``<key>.lock`` (:mod:`asc.locks`: it names its holder,
and a dead holder, even on another host of a shared filesystem, is taken over), so two jobs that need the same
missing artifact never both build it, a killed job leaves no half-written artifact (only a partial directory that
the next run resumes from, cleared of the temp files its killed writes left), and ``manifest.json`` is written
last, just before the atomic rename to the final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asc.atomic import atomic_write_json, sweep_stale_temps
from asc.locks import hold

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def config_key(*parts: Any) -> str:
    """Stable short hash of JSON-serialisable parts (dict key order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Artifact:
    stage: str
    key: str
    path: Path

    @property
    def done(self) -> bool:
        return (self.path / MANIFEST).is_file()

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def artifact(
        self, stage: str, config: Any, upstream: list[Artifact] | tuple[Artifact, ...] = ()
    ) -> Artifact:
        key = config_key(stage, config, [a.key for a in upstream])
        return Artifact(stage, key, self.root / stage / key)

    def build(
        self,
        artifact: Artifact,
        builder: Callable[[Path], dict[str, Any] | None],
        *,
        config: Any = None,
        upstream: list[Artifact] | tuple[Artifact, ...] = (),
        describe: str = "",
    ) -> Artifact:
        """Run ``builder(workdir)`` unless the artifact exists; ``builder`` returns extra manifest fields.

        The workdir is stable across attempts (``<key>.partial``) so a builder can resume from what a killed
        run left there (training checkpoints).
        """
        label = f"{artifact.stage} {artifact.key}" + (f" ({describe})" if describe else "")
        if artifact.done:
            log.info("%s: up to date in %s, nothing to do", label, artifact.path)
            return artifact
        artifact.path.parent.mkdir(parents=True, exist_ok=True)
        with hold(str(artifact.path) + ".lock", what=label):
            if artifact.done:  # built by a concurrent job while we waited for the lock
                log.info("%s: built by another job, reusing %s", label, artifact.path)
                return artifact
            work = artifact.partial
            if work.exists():
                log.info("%s: resuming from %s", label, work)
                sweep_stale_temps(work, recursive=True)
            work.mkdir(parents=True, exist_ok=True)
            start = time.time()
            extra = builder(work) or {}
            manifest = {
                "stage": artifact.stage,
                "key": artifact.key,
                "config": config,
                "upstream": {a.stage: a.key for a in upstream},
                "seconds": round(time.time() - start, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **extra,
            }
            atomic_write_json(work / MANIFEST, manifest)
            if artifact.path.exists():  # a stale, manifest-less directory (e.g. an older crash): replace it
                shutil.rmtree(artifact.path)
            os.replace(work, artifact.path)
            log.info("%s: built in %.1f s -> %s", label, manifest["seconds"], artifact.path)
        return artifact
