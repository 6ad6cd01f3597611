"""A lock file that says who holds it, stays correct on a shared filesystem, and recovers from a dead holder.

``with hold(path): ...`` creates ``path`` with ``O_CREAT | O_EXCL`` (atomic on local disks and on NFS v3+, unlike
``fcntl`` locks, which a dead NFS client may never release) and writes the holder into it: pid, host, since when.
While the block runs, a daemon thread refreshes the file's mtime, the heartbeat. A waiter logs who holds the lock
every ``log_every_s`` and takes the lock over, with a warning, when the holder is dead:

- same host and its pid no longer exists: at once;
- any host: its heartbeat is older than ``stale_after`` seconds (default 10 minutes, or ``$ASC_LOCK_STALE_AFTER``).
  The heartbeat is the holder's own clock, so hosts must agree on the time to well within ``stale_after`` (NTP).

Taking over is serialised by a second, short-lived ``<path>.takeover`` file, so two waiters that both find the
same dead holder never both get the lock.

A holder that was only frozen (``scontrol suspend``, suspend-mode preemption, a stalled VM) longer than
``stale_after`` wakes up without its lock. :class:`Lease` (what ``hold`` yields) says so: :meth:`Lease.ensure`
raises :class:`LockLostError` once the lock file names another holder, and :func:`ensure_held` checks every lock
this process holds, so long builders can stop early and nothing built under a lost lock is ever published.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from asc.core.process import pid_alive

log = logging.getLogger(__name__)

STALE_ENV = "ASC_LOCK_STALE_AFTER"
DEFAULT_STALE_AFTER_S = 600.0
# A holder writes its name right after creating the file; an empty file this old is dead.
NAMELESS_GRACE_S = 10.0
TAKEOVER_STALE_S = 60.0  # the takeover guard is held for milliseconds


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in the lock file (pid 0 / host "?" when the file holds no readable name)."""

    pid: int
    host: str
    since: float
    token: str
    heartbeat: float  # mtime of the lock file

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on host {self.host} since {since}, last heartbeat {now - self.heartbeat:.0f} s ago"


class LockLostError(RuntimeError):
    """This process's lock was taken over while it held it (it was suspended or stalled longer than the stale
    timeout): what it built under the lock must be discarded, never published."""


class Lease:
    """This process's hold on one lock (yielded by :func:`hold`): who holds it and whether it still does."""

    def __init__(self, path: Path, token: str, holder: Holder, label: str, stale_after: float):
        self.path, self.token, self.label, self.stale_after = path, token, label, stale_after
        self.pid, self.host, self.since = holder.pid, holder.host, holder.since
        self._lost = threading.Event()

    def lost(self) -> str | None:
        """Why this process no longer holds the lock (who holds it now), or None while it does. Reads the lock
        file: the holder's token is the generation, a taker-over writes its own."""
        holder = read_holder(self.path)
        if holder is not None and holder.token == self.token:
            return None
        self._lost.set()
        return f"it is now held by {holder.describe()}" if holder is not None else "the lock file was removed"

    def ensure(self) -> None:
        """Raise :class:`LockLostError` (one line naming the lock and the fix) if the lock was taken over."""
        reason = self.lost()
        if reason is not None:
            raise LockLostError(
                f"lost the lock of {self.label} while building it ({reason}): this process went more than "
                f"{self.stale_after:g} s without a heartbeat (suspended or stalled), so another job took it over; "
                f"what this one built is discarded and the other job's result is kept (raise ${STALE_ENV} "
                "if jobs are suspended for longer)"
            )


_HELD: set[Lease] = set()  # every lock this process holds now (for ensure_held)
_HELD_GUARD = threading.Lock()


def ensure_held() -> None:
    """Raise :class:`LockLostError` if any lock this process holds was taken over. Cheap (one small read per
    held lock): long builders call it at safe points (after a training epoch, between feature splits) to stop
    building an artifact that is no longer theirs."""
    with _HELD_GUARD:
        leases = list(_HELD)
    for lease in leases:
        lease.ensure()


def stale_after_default() -> float:
    """``$ASC_LOCK_STALE_AFTER`` in seconds (a finite number > 0), or the default; InputError naming it else
    (checked at planning, asc/app/cli.py, before any lock is taken)."""
    from asc.core.errors import InputError

    value = os.environ.get(STALE_ENV)
    if value is None:
        return DEFAULT_STALE_AFTER_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(
            f"${STALE_ENV}={value!r} is not a number of seconds > 0: set it to e.g. 600 (the default, "
            f"{DEFAULT_STALE_AFTER_S:g}) or unset it"
        )
    return seconds


def read_holder(path: str | Path) -> Holder | None:
    """The holder of the lock at ``path``, or None if nobody holds it."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
            heartbeat = os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:
        return None
    try:
        info = json.loads(text)
        return Holder(
            int(info["pid"]), str(info["host"]), float(info["since"]), str(info["token"]), heartbeat
        )
    except (
        ValueError,
        KeyError,
        TypeError,
    ):  # being written right now, or left empty by an older asc (filelock)
        return Holder(0, "?", heartbeat, "", heartbeat)


def stale_reason(holder: Holder, stale_after: float, now: float) -> str | None:
    """Why ``holder`` counts as dead at ``now`` (the rules of the module docstring), or None while it is alive."""
    if holder.host == socket.gethostname() and holder.pid and not pid_alive(holder.pid):
        return f"its process {holder.pid} no longer exists on this host"
    if not holder.token and now - holder.heartbeat > NAMELESS_GRACE_S:
        return "the lock file names no holder (left by a killed process or an older version)"
    if now - holder.heartbeat > stale_after:
        return f"its heartbeat is older than {stale_after:g} s (${STALE_ENV})"
    return None


def _create(path: Path, content: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    return True


def _take_over(path: Path, seen: Holder, stale_after: float) -> bool:
    """Remove the lock of the dead holder ``seen`` unless another waiter got there first; True if removed."""
    guard = path.with_name(path.name + ".takeover")
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "token": uuid.uuid4().hex}
    if not _create(guard, json.dumps(me)):
        # A waiter killed while it held the guard (held for milliseconds otherwise).
        other = read_holder(guard)
        if other is not None and stale_reason(other, TAKEOVER_STALE_S, time.time()):
            guard.unlink(missing_ok=True)
        return False
    try:
        now = time.time()
        current = read_holder(path)
        # Still the same holder with the same heartbeat, and still dead: nobody took it over meanwhile.
        if current is None or (current.token, current.heartbeat) != (seen.token, seen.heartbeat):
            return current is None
        reason = stale_reason(current, stale_after, now)
        if reason:
            path.unlink()
            log.warning("taking over the lock %s from %s: %s", path, current.describe(now), reason)
        return bool(reason)
    finally:
        guard.unlink(missing_ok=True)


def _heartbeat(path: Path, token: str, every_s: float, stop: threading.Event, lost: threading.Event) -> None:
    while not stop.wait(every_s):
        holder = read_holder(path)
        if holder is None or holder.token != token:
            lost.set()
            log.error(
                "the lock %s was taken over while this process held it (now: %s); what this process builds "
                "under it will be discarded; raise $%s if this host was only slow or suspended",
                path,
                holder and holder.describe(),
                STALE_ENV,
            )
            return
        now = time.time()
        try:
            os.utime(path, (now, now))
        except FileNotFoundError:
            continue  # removed by a taker-over a moment ago: the next beat reports it


def _wait_and_create(
    path: Path,
    me: dict[str, object],
    label: str,
    *,
    stale_after: float,
    timeout_s: float | None,
    log_every_s: float,
    poll_max_s: float,
) -> None:
    """Create the lock file ``path`` naming ``me`` (pid, host, token), waiting while another process holds it (the
    wait and the takeover of a dead holder as :func:`hold` says); TimeoutError naming the holder."""
    start = time.monotonic()
    next_log, delay = start, 0.01
    while not _create(path, json.dumps({**me, "since": time.time()})):
        holder = read_holder(path)
        if holder is None:  # released between our attempt and the read
            continue
        now = time.time()
        if stale_reason(holder, stale_after, now) and _take_over(path, holder, stale_after):
            continue
        if time.monotonic() >= next_log:
            log.info(
                "waiting for the lock of %s, held by %s (taken over when its heartbeat is older than %g s)",
                label,
                holder.describe(now),
                stale_after,
            )
            next_log = time.monotonic() + log_every_s
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(
                f"could not get the lock of {label} within {timeout_s:g} s: it is held by {holder.describe(now)}; "
                f"wait for that process, or stop it (a dead holder is taken over after {stale_after:g} s)"
            )
        time.sleep(delay)
        delay = min(delay * 2, poll_max_s)


@contextmanager
def hold(
    path: str | Path,
    *,
    stale_after: float | None = None,
    timeout_s: float | None = None,
    log_every_s: float = 30.0,
    poll_max_s: float = 1.0,
    what: str = "",
) -> Iterator[Lease]:
    """Hold the lock file ``path`` for the block (see the module docstring); yield this process's
    :class:`Lease` (its ``token``, and :meth:`Lease.ensure` to check that it still holds the lock).

    ``stale_after``: seconds without a heartbeat after which a holder counts as dead (default
    ``$ASC_LOCK_STALE_AFTER`` or 600). ``timeout_s``: give up waiting with a TimeoutError naming the holder.
    ``what``: what the lock protects, for the log messages.
    """
    path = Path(path)
    stale_after = (
        stale_after_default() if stale_after is None else float(stale_after)
    )  # refused: nothing made
    path.parent.mkdir(parents=True, exist_ok=True)
    label = f"{what} ({path})" if what else str(path)
    token = uuid.uuid4().hex
    me = {"pid": os.getpid(), "host": socket.gethostname(), "token": token}
    pacing = {"log_every_s": log_every_s, "poll_max_s": poll_max_s}
    _wait_and_create(path, me, label, stale_after=stale_after, timeout_s=timeout_s, **pacing)
    held = read_holder(path)
    held = held if held is not None else Holder(os.getpid(), me["host"], time.time(), token, time.time())
    lease = Lease(path, token, held, label, stale_after)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat,
        args=(path, token, min(30.0, stale_after / 4), stop, lease._lost),
        daemon=True,
        name="asc-lock",
    )
    beat.start()
    with _HELD_GUARD:
        _HELD.add(lease)
    try:
        yield lease
    finally:
        with _HELD_GUARD:
            _HELD.discard(lease)
        stop.set()
        beat.join()
        holder = read_holder(path)
        if holder is not None and holder.token == token:
            path.unlink(missing_ok=True)
