"""Progress: tqdm bars on a terminal; in a log (``asc > log 2>&1``, nohup, a batch scheduler) a line at least
every :data:`SILENCE_S` seconds instead.

:func:`progress_bar` is the one way a long step counts its work (clips, batches, bytes): a tqdm bar when bars are
shown, else a :class:`LogBar` that only counts. While a job runs, :class:`Heartbeat` watches the log: when nothing
was logged for :data:`SILENCE_S` seconds it logs one line saying what is under way (the job's k/N and ETA, given
by the executor, and every open bar, outermost first, with its count, rate and ETA).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)

SILENCE_S = 25.0  # the longest a job's log stays silent (the heartbeat checks every CHECK_S)
CHECK_S = 1.0
_ACTIVE: list[LogBar] = []  # the open bars, outermost first (read by the heartbeat thread)
_LOCK = threading.Lock()


def show_progress(progress: bool | None) -> bool:
    """As asked (``progress=true|false``), else only when stderr is a terminal: no bars in CI logs or files."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 10 min``, ``3 d 4 h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


class LogBar:
    """What a tqdm bar counts, without drawing: the heartbeat reads :meth:`status`. Supports the part of tqdm's
    interface asc uses (``update``, ``close``, iteration, ``with``)."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
    ):
        self.iterable, self.desc, self.unit = iterable, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.initial = total, 0.0, 0.0
        self.start = time.monotonic()
        with _LOCK:
            _ACTIVE.append(self)

    def update(self, n: float = 1) -> None:
        self.n += n

    def close(self) -> None:
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)

    def __enter__(self) -> LogBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update()
        finally:
            self.close()

    def _amount(self, n: float) -> str:
        if self.unit == "B":
            from asc.core.disk import human_bytes

            return human_bytes(n)
        return f"{n:.0f}"

    def status(self) -> str:
        """``desc 40/120 clip (33 %), 12.5 clip/s, ETA 6 s``."""
        elapsed, done = time.monotonic() - self.start, self.n - self.initial
        rate = done / elapsed if elapsed > 0 else 0.0
        unit = "" if self.unit == "B" else f" {self.unit}"
        text = f"{self.desc} {self._amount(self.n)}"
        if self.total:
            text += f"/{self._amount(self.total)}{unit} ({100 * self.n / self.total:.0f} %)"
        else:
            text += unit
        if rate > 0:
            shown = (
                self._amount(rate) if self.unit == "B" else f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}"
            )
            text += f", {shown}{unit}/s"
            if self.total:
                text += f", ETA {duration((self.total - self.n) / rate)}"
        return text


def progress_bar(
    iterable: Iterable | None = None,
    *,
    show: bool,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    initial: float = 0,
    **tqdm_kw: Any,
) -> Any:
    """A tqdm bar when ``show`` (see :func:`show_progress`), else a :class:`LogBar` that the heartbeat reports."""
    if show:
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, **tqdm_kw)
    bar = LogBar(iterable, total=total, desc=desc, unit=unit)
    bar.n = bar.initial = initial
    return bar


def open_bars() -> str:
    """Every open bar's status, outermost first, joined by ``; ``."""
    with _LOCK:
        bars = list(_ACTIVE)
    return "; ".join(b.status() for b in bars)


class _LastRecord(logging.Handler):
    """Remembers when anything was last logged (to any logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.at = time.monotonic()


class Heartbeat:
    """``with Heartbeat(status):`` a daemon thread logs ``status()`` and the open bars whenever the log has been
    silent for ``silence_s`` seconds (``enabled=False``: nothing, e.g. when tqdm bars are drawn)."""

    def __init__(self, status: Callable[[], str], *, silence_s: float = SILENCE_S, enabled: bool = True):
        self.status, self.silence_s, self.enabled = status, silence_s, enabled
        self._stop = threading.Event()
        self._last = _LastRecord()
        self._thread = threading.Thread(target=self._watch, name="asc-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            logging.getLogger().addHandler(self._last)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            logging.getLogger().removeHandler(self._last)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_S):
            if time.monotonic() - self._last.at >= self.silence_s:
                bars = open_bars()
                try:
                    log.info("%s%s", self.status(), f"; {bars}" if bars else "")
                except Exception:  # noqa: BLE001 - a status that fails must not kill the job
                    log.info("still working; %s", bars or "no progress reported")
                self._last.at = time.monotonic()  # also when the root logger has no handler at INFO
