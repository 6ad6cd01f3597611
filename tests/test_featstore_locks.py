"""asc.core.locks: the holder is named while others wait, a dead holder (same host: dead pid; any host: old heartbeat)
is taken over, a live one never is, and there is never more than one holder."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from asc.core.locks import hold, read_holder


def dead_pid() -> int:
    """The pid of a process that has exited (on this host)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def plant(path: Path, *, pid: int, host: str, age_s: float) -> None:
    """A lock file as another holder would have left it, with its last heartbeat ``age_s`` ago."""
    then = time.time() - age_s
    path.write_text(json.dumps({"pid": pid, "host": host, "since": then, "token": "theirs"}))
    os.utime(path, (then, then))


def test_waiter_logs_the_holder_and_times_out_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "a.lock"
    plant(lock, pid=4242, host="node-17", age_s=5)
    with caplog.at_level(logging.INFO, logger="asc.core.locks"):
        with pytest.raises(TimeoutError, match="pid 4242 on host node-17") as err:
            with hold(lock, timeout_s=0.5, log_every_s=0.1, what="features abc"):
                pytest.fail("a live holder's lock was taken")
    assert "last heartbeat" in str(err.value) and "features abc" in str(err.value)
    waits = [r.getMessage() for r in caplog.records if "waiting for the lock" in r.getMessage()]
    assert len(waits) >= 2, waits  # repeated while waiting
    assert "pid 4242 on host node-17 since" in waits[0] and "last heartbeat 5 s ago" in waits[0]
    assert read_holder(lock).token == "theirs"  # untouched


def test_stale_lock_of_another_host_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lock = tmp_path / "a.lock"
    plant(lock, pid=os.getpid(), host="node-17", age_s=700)  # a pid that exists here must not matter
    with caplog.at_level(logging.WARNING, logger="asc.core.locks"):
        with hold(lock, stale_after=600, timeout_s=5) as me:
            assert read_holder(lock).token == me.token != "theirs"
    assert "taking over the lock" in caplog.text and "node-17" in caplog.text and "600" in caplog.text
    assert not lock.exists()  # released


def test_env_var_sets_the_stale_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "a.lock"
    plant(lock, pid=1, host="node-17", age_s=60)
    monkeypatch.setenv("ASC_LOCK_STALE_AFTER", "3600")
    with pytest.raises(TimeoutError):
        with hold(lock, timeout_s=0.3):
            pass
    monkeypatch.setenv("ASC_LOCK_STALE_AFTER", "30")
    with hold(lock, timeout_s=5):
        pass


def test_dead_pid_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    lock = tmp_path / "a.lock"
    plant(
        lock, pid=dead_pid(), host=socket.gethostname(), age_s=0
    )  # fresh heartbeat, but the process is gone
    start = time.monotonic()
    with hold(lock, stale_after=600, timeout_s=5):
        assert time.monotonic() - start < 2


def _hold_forever(path: str) -> None:
    with hold(path):
        time.sleep(600)


def test_killed_holder_process_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "a.lock"
    proc = multiprocessing.get_context("fork").Process(target=_hold_forever, args=(str(lock),))
    proc.start()
    deadline = time.monotonic() + 30
    while read_holder(lock) is None or read_holder(lock).pid != proc.pid:
        assert time.monotonic() < deadline, "the child never took the lock"
        time.sleep(0.02)
    with pytest.raises(TimeoutError, match=f"pid {proc.pid}"):  # alive: not taken over
        with hold(lock, timeout_s=0.3):
            pass
    proc.kill()
    proc.join()
    with hold(lock, timeout_s=5):
        pass


def test_live_holder_with_heartbeat_is_not_taken_over(tmp_path: Path) -> None:
    """stale_after shorter than the hold: the heartbeat thread keeps the lock alive."""
    lock = tmp_path / "a.lock"
    events: list[tuple[str, float]] = []
    held = threading.Event()

    def holder() -> None:
        with hold(lock, stale_after=0.4):
            held.set()
            time.sleep(1.5)
            events.append(("released", time.monotonic()))

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with hold(lock, stale_after=0.4, timeout_s=10):
        events.append(("acquired", time.monotonic()))
    thread.join()
    assert [e[0] for e in events] == ["released", "acquired"]


def test_old_empty_lock_file_is_taken_over(tmp_path: Path) -> None:
    """An empty lock file, as filelock (older asc versions) left behind, blocks nobody."""
    lock = tmp_path / "a.lock"
    lock.touch()
    os.utime(lock, (time.time() - 60, time.time() - 60))
    with hold(lock, timeout_s=5):
        pass


def _count(lock: str, counter: str, log: str, n: int) -> None:
    for _ in range(n):
        with hold(lock, poll_max_s=0.05):
            with open(log, "a") as f:
                f.write(f"in {os.getpid()} {threading.get_ident()}\n")
            value = int(Path(counter).read_text())
            time.sleep(0.005)  # a lost update if anyone else were inside
            Path(counter).write_text(str(value + 1))
            with open(log, "a") as f:
                f.write(f"out {os.getpid()} {threading.get_ident()}\n")


@pytest.mark.parametrize("kind", ["processes", "threads", "processes-racing-to-take-over"])
def test_one_holder_at_a_time(tmp_path: Path, kind: str) -> None:
    lock, counter, log = tmp_path / "a.lock", tmp_path / "counter", tmp_path / "log"
    counter.write_text("0")
    if kind == "processes-racing-to-take-over":  # all four find the same dead holder at once
        plant(lock, pid=dead_pid(), host=socket.gethostname(), age_s=0)
    args = (str(lock), str(counter), str(log), 10)
    if kind.startswith("processes"):
        ctx = multiprocessing.get_context("fork")
        workers = [ctx.Process(target=_count, args=args) for _ in range(4)]
    else:
        workers = [threading.Thread(target=_count, args=args) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    if kind.startswith("processes"):
        assert [w.exitcode for w in workers] == [0] * 4
    assert counter.read_text() == "40"
    lines = log.read_text().splitlines()
    assert len(lines) == 80
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):  # strictly alternating, same holder
        assert enter.startswith("in ") and leave == "out " + enter[3:]
    assert not lock.exists() and not list(tmp_path.glob("*.takeover"))
