"""Config-keyed artifact store.

Every stage writes into ``<root>/<stage>/<key>/`` where ``key`` hashes the config subtree the stage depends on
plus the keys of its upstream artifacts. So a sweep over ``prune=...`` shares the dataset, features and
baseline; changing only ``train.*`` keeps the features; and re-running a command skips what is done.

Building happens under the lock file ``<key>.lock`` (:mod:`asc.core.locks`: it names its holder, and a dead holder,
even on another host of a shared filesystem, is taken over) in a work folder of this holder's own,
``<key>.<tag>.partial/``: a new holder adopts (renames) the folder a killed or failed one left, so it resumes from
there (training checkpoints), and a holder that was only suspended and lost its lock can never write into the new
holder's folder. ``manifest.json`` is written last, with every file's size and SHA-256 (:mod:`asc.pipeline.manifest`);
the lock's token is checked, and the folder is renamed to the final name, a rename that cannot replace a
published artifact. A holder that lost its lock discards what it built and waits for the other job's artifact.
Reusing an artifact checks it against its manifest first.
"""

from __future__ import annotations

import errno
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

from asc.core.atomic import atomic_write_json, sweep_stale_temps
from asc.core.disk import explain_full_disk
from asc.core.locks import Lease, LockLostError, hold
from asc.core.provenance import provenance
from asc.pipeline.manifest import MANIFEST, DamagedArtifactError, record, verify

log = logging.getLogger(__name__)

DAMAGED = ("refuse", "rebuild")
LOST_LOCK_RETRIES = 3  # a job suspended past the stale timeout this often in one build gives up


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

    def partials(self) -> list[Path]:
        """The work folders killed, failed or displaced builds left (``<key>.partial``, ``<key>.<tag>.partial``),
        newest first."""
        found = [p for p in self.path.parent.glob(self.path.name + ".*partial") if p.is_dir()]
        return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)

    @property
    def partial(self) -> Path:
        """The work folder the next build resumes from (the newest left), or where an older version put it."""
        found = self.partials()
        return found[0] if found else self.path.with_name(self.path.name + ".partial")

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def label(self, describe: str = "") -> str:
        return f"{self.stage} {self.key}" + (f" ({describe})" if describe else "")

    def verify(self, describe: str = "") -> Artifact:
        """Check the published artifact against its manifest (cheap when untouched since the last check: see
        :mod:`asc.pipeline.manifest`); raise :class:`DamagedArtifactError` naming it, the file and what differs. The
        middle calls it before loading a file of an artifact it did not just build or reuse via
        :meth:`Store.build`."""
        verify(self.path, self.label(describe))
        return self


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
        need: int | None = None,
        damaged: str = "refuse",
    ) -> Artifact:
        """Run ``builder(workdir)`` unless the artifact exists; ``builder`` returns extra manifest fields.

        The workdir holds what a killed or failed earlier build left there, so a builder can resume (training
        checkpoints). A finished artifact is verified before it is reused; a damaged one raises
        :class:`DamagedArtifactError` (``damaged="refuse"``) or is deleted and built again (``"rebuild"``: for
        stages whose result does not depend on the run, e.g. features). ``need``: the bytes the build writes,
        named when the disk fills up. If this job loses its lock while building (suspended past
        ``$ASC_LOCK_STALE_AFTER``), what it built is discarded and the other job's artifact is reused.
        """
        if damaged not in DAMAGED:
            raise ValueError(f"damaged={damaged!r}; valid: {DAMAGED}")
        label = artifact.label(describe)
        if artifact.done and self._reusable(artifact, label, damaged):
            log.info("%s: up to date in %s, nothing to do", label, artifact.path)
            return artifact
        artifact.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(LOST_LOCK_RETRIES):
            with hold(str(artifact.path) + ".lock", what=label) as lease:
                if artifact.done and self._reusable(artifact, label, damaged, lease=lease):
                    log.info("%s: built by another job, reusing %s", label, artifact.path)
                    self._drop_partials(artifact)
                    return artifact
                try:
                    with explain_full_disk(artifact.path.parent, label, need):
                        self._build(artifact, builder, lease, label, config=config, upstream=upstream)
                    return artifact
                except Exception as err:  # noqa: BLE001 - any failure of a builder that lost its lock
                    reason = lease.lost()
                    if reason is None:
                        raise
                    log.warning(
                        "%s: lost the lock while building (%s: %s); discarding what this job built and "
                        "waiting for the other job's artifact",
                        label,
                        reason,
                        type(err).__name__,
                    )
        raise LockLostError(
            f"{label}: lost the lock {LOST_LOCK_RETRIES} times while building it; this job keeps being suspended "
            "longer than $ASC_LOCK_STALE_AFTER: raise it"
        )

    def verify(self, artifact: Artifact, describe: str = "") -> Artifact:
        """:meth:`Artifact.verify`."""
        return artifact.verify(describe)

    # ------------------------------------------------------------------ the steps of a build
    def _reusable(self, artifact: Artifact, label: str, damaged: str, lease: Lease | None = None) -> bool:
        """True if the published artifact is intact; else refuse, or (under the lock) delete it for a rebuild."""
        try:
            verify(artifact.path, label)
            return True
        except DamagedArtifactError as err:
            if damaged == "refuse":
                raise
            if lease is None:  # deleted only under the lock, where nobody else rebuilds or publishes it
                return False
            log.warning("%s; deleting it and building it again", err)
            aside = artifact.path.with_name(f"{artifact.path.name}.damaged.{lease.token[:8]}")
            os.rename(artifact.path, aside)  # readers that hold its files open keep them
            shutil.rmtree(aside, ignore_errors=True)
            return False

    def _claim(self, artifact: Artifact, lease: Lease, label: str) -> Path:
        """This holder's work folder: the newest one a previous holder left, adopted (renamed), or a new one."""
        mine = artifact.path.with_name(f"{artifact.path.name}.{lease.token[:8]}.partial")
        found = artifact.partials()
        if found:
            os.rename(found[0], mine)
            log.info("%s: resuming from %s", label, found[0])
            for other in found[1:]:  # older leftovers of holders that lost the lock or died
                shutil.rmtree(other, ignore_errors=True)
            sweep_stale_temps(mine, recursive=True)
        mine.mkdir(exist_ok=True)
        return mine

    def _build(
        self,
        artifact: Artifact,
        builder: Callable[[Path], dict[str, Any] | None],
        lease: Lease,
        label: str,
        *,
        config: Any,
        upstream: list[Artifact] | tuple[Artifact, ...],
    ) -> None:
        work = self._claim(artifact, lease, label)
        start = time.time()
        extra = builder(work) or {}
        lease.ensure()
        # No temp file is being written any more: what is left belongs to writers that lost this folder.
        sweep_stale_temps(work, recursive=True, max_age_s=-1)
        manifest = {
            "stage": artifact.stage,
            "key": artifact.key,
            "config": config,
            "upstream": {a.stage: a.key for a in upstream},
            "seconds": round(time.time() - start, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "provenance": provenance(),  # what built it; never part of the key
            **extra,
            "files": record(work),
        }
        atomic_write_json(work / MANIFEST, manifest)
        lease.ensure()
        if _publish(work, artifact.path, label):
            log.info("%s: built in %.1f s -> %s", label, manifest["seconds"], artifact.path)
        elif lease.lost() is None:  # ours alone while we hold the lock: the other job's artifact is kept
            shutil.rmtree(work, ignore_errors=True)

    def _drop_partials(self, artifact: Artifact) -> None:
        """Work folders left beside a published artifact belong to holders that lost the lock: nobody resumes
        them any more."""
        for other in artifact.partials():
            shutil.rmtree(other, ignore_errors=True)


def _publish(work: Path, final: Path, label: str) -> bool:
    """Rename ``work`` to ``final``; False (nothing changed) when another job published ``final`` first. Never
    replaces a published artifact: a folder rename fails on a non-empty target, and a published artifact always
    holds its manifest. A manifest-less folder at ``final`` (an older version's crash) is removed first; the
    caller holds the lock."""
    if final.exists() and not (final / MANIFEST).exists():
        shutil.rmtree(final)
    try:
        os.rename(work, final)
    except FileNotFoundError as err:  # a holder that took the lock over adopted our work folder
        raise LockLostError(f"{label}: the work folder {work} was taken over by another job") from err
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        log.warning(
            "%s: %s was published by another job a moment ago; keeping it, discarding ours", label, final
        )
        return False
    return True
