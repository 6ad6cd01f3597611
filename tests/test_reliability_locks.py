"""Issue 18 item 2: a job suspended past the stale timeout loses its lock, and then must neither keep writing into
the new holder's work folder nor replace what the new holder published."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from asc.core.atomic import atomic_write_text
from asc.core.locks import LockLostError, ensure_held, hold
from asc.pipeline.store import MANIFEST, Store, _publish

CONFIG = {"shared": True}


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _job(root: str, flags: str, name: str, wait_for_go: bool) -> None:
    """One job building the shared artifact; A waits inside its builder (where the test suspends it)."""
    logging.basicConfig(filename=str(Path(flags) / f"{name}.log"), level=logging.INFO, force=True)
    store = Store(root)
    art = store.artifact("train", CONFIG)

    def builder(work: Path) -> dict[str, Any]:
        (Path(flags) / f"{name}-building").write_text(str(work))
        if wait_for_go:
            _wait_for(Path(flags) / "go", 60)
        # As training does: each epoch's checkpoint goes through atomic_path, which makes the folder if missing.
        atomic_write_text(work / "last.pt", f"epoch 1 of {name}")
        atomic_write_text(work / "model.pt", f"weights of {name}")
        return {"by": name}

    store.build(art, builder)


def test_suspended_holder_never_replaces_the_takers_artifact(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASC_LOCK_STALE_AFTER", "0.6")
    root, flags = tmp_path / "store", tmp_path / "flags"
    flags.mkdir()
    ctx = multiprocessing.get_context("fork")
    a = ctx.Process(target=_job, args=(str(root), str(flags), "A", True))
    a.start()
    try:
        _wait_for(flags / "A-building")
        os.kill(a.pid, signal.SIGSTOP)  # scontrol suspend: A holds the lock and stops beating
        b = ctx.Process(target=_job, args=(str(root), str(flags), "B", False))
        b.start()
        b.join(60)
        assert b.exitcode == 0
        art = Store(root).artifact("train", CONFIG)
        assert art.done and art.manifest()["by"] == "B"
        published = (art.path / "model.pt").stat()
        (flags / "go").touch()
    finally:
        os.kill(a.pid, signal.SIGCONT)
    a.join(60)
    assert a.exitcode == 0  # A found the artifact B published and reused it
    assert art.manifest()["by"] == "B" and (art.path / "model.pt").read_text() == "weights of B"
    assert (art.path / "model.pt").stat().st_ino == published.st_ino  # never replaced
    assert Path((flags / "A-building").read_text()) != Path((flags / "B-building").read_text())  # own folders
    log_a = (flags / "A.log").read_text()
    assert "lost the lock while building" in log_a and "reusing" in log_a
    assert "taking over the lock" in (flags / "B.log").read_text()
    assert art.partials() == []  # A's leftover folder is gone too
    art.verify()


def test_a_resumed_build_adopts_the_folder_a_killed_holder_left(tmp_path: Path) -> None:
    store = Store(tmp_path)
    art = store.artifact("train", CONFIG)

    def crash(work: Path) -> None:
        atomic_write_text(work / "last.pt", "epoch 3")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.build(art, crash)
    left = art.partial
    seen = []
    store.build(art, lambda work: seen.append((work != left, (work / "last.pt").read_text())))
    assert seen == [(True, "epoch 3")] and art.partials() == [] and art.done


def test_publish_never_replaces_a_published_artifact(tmp_path: Path) -> None:
    final, work = tmp_path / "key", tmp_path / "key.x.partial"
    final.mkdir()
    (final / MANIFEST).write_text("{}")
    work.mkdir()
    (work / MANIFEST).write_text('{"mine": 1}')
    assert _publish(work, final, "train key") is False
    assert (final / MANIFEST).read_text() == "{}" and work.is_dir()
    with pytest.raises(LockLostError, match="taken over"):  # our folder was adopted by the taker
        _publish(tmp_path / "gone.partial", tmp_path / "other", "train other")


def test_ensure_held_raises_once_the_lock_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "a.lock"
    with hold(lock) as lease:
        ensure_held()
        lock.unlink()
        lock.write_text('{"pid": 1, "host": "node-9", "since": 0, "token": "theirs"}')  # a taker-over
        with pytest.raises(LockLostError, match=r"lost the lock of .*a\.lock.*pid 1 on host node-9"):
            ensure_held()
        assert lease.lost() is not None
    assert lock.exists()  # the taker's lock is not released by the loser
    ensure_held()  # nothing held any more
