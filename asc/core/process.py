"""Processes: whether one is alive on this host, and pool workers that never outlive their parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_SECONDS = 0.5


def die_with_parent(parent: int) -> None:
    """Pool initializer: a worker must not outlive the asc process (killed, it would leave workers writing into
    the folder the next job resumes). On Linux the kernel sends SIGKILL when the parent dies (prctl); a thread
    that polls the parent is the portable fallback (and covers a parent that died before prctl took effect)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    direct = os.getppid() == parent  # fork: asc is the parent; forkserver/spawn: it is not
    threading.Thread(target=_watch_parent, args=(parent, direct), daemon=True, name="parent-watch").start()


def _watch_parent(parent: int, direct: bool) -> None:
    while _parent_alive(parent, direct):
        time.sleep(_WATCH_SECONDS)
    os._exit(1)  # no clean-up: the unfinished clip is a temporary file that the next run removes


def _parent_alive(parent: int, direct: bool) -> bool:
    if direct:  # a dead parent is a zombie until reaped, so a kill(0) probe would say "alive"; ppid changes
        return os.getppid() == parent
    return pid_alive(parent)
