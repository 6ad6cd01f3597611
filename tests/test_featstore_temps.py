"""Temp files that killed writers left behind are removed by the next run; those of live writers are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from asc.core.atomic import HOST, TEMP_NAME, atomic_path, sweep_stale_temps, temp_path
from asc.pipeline.store import Store
from asc.report import results


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def leftover(path: Path, pid: int, *, host: str | None = HOST, age_s: float = 0) -> Path:
    """A temp file as atomic_path names it (``host=None``: the older name without a host)."""
    tmp = temp_path(path, pid=pid)
    if host != HOST:
        tmp = tmp.with_name(tmp.name.replace(f".{HOST}-", "." if host is None else f".{host}-"))
    tmp.write_bytes(b"x" * 1000)
    then = time.time() - age_s
    os.utime(tmp, (then, then))
    return tmp


def test_atomic_path_names_its_temp_with_host_and_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "model.pt") as tmp:
        match = TEMP_NAME.match(tmp.name)
        assert (
            match
            and match["name"] == "model.pt"
            and match["host"] == HOST
            and int(match["pid"]) == os.getpid()
        )
        tmp.write_text("w")
    assert (tmp_path / "model.pt").read_text() == "w"


def test_sweep_removes_dead_writers_and_keeps_live_ones(tmp_path: Path) -> None:
    dead = dead_pid()
    target = tmp_path / "results.csv"
    gone = [
        leftover(target, dead),  # killed on this host
        leftover(target, dead, host=None),  # killed, written by an older asc (no host in the name)
        leftover(target, os.getpid(), host="abcdef", age_s=2 * 86_400),  # another host, untouched for 2 days
    ]
    kept = [
        leftover(target, os.getpid()),  # being written by a live process
        leftover(target, dead, host="abcdef"),  # another host: its pid means nothing here, and it is recent
    ]
    other = tmp_path / ".hidden.tmp"  # not a temp name of ours
    other.write_text("keep")
    removed = sweep_stale_temps(tmp_path)
    assert sorted(removed) == sorted(gone)
    assert all(p.exists() for p in kept) and other.exists()
    assert not any(p.exists() for p in gone)


def test_sweep_recurses_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    nested = leftover(tmp_path / "sub" / "x.npy", dead_pid())
    assert sweep_stale_temps(tmp_path) == [] and nested.exists()
    assert sweep_stale_temps(tmp_path, recursive=True) == [nested]
    assert sweep_stale_temps(tmp_path / "missing") == []


def test_results_append_sweeps_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    stale, live = leftover(path, dead_pid()), leftover(path, os.getpid())
    results.append(path, [{"run_id": "a", "stage": "prune", "accuracy": 0.5}])
    assert not stale.exists() and live.exists()
    assert list(results.load(path)["run_id"]) == ["a"]


def test_store_sweeps_the_partial_it_resumes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    art = store.artifact("train", {"epochs": 3})
    (art.partial / "ckpt").mkdir(parents=True)
    stale = leftover(art.partial / "ckpt" / "last.pt", dead_pid())
    seen = []
    store.build(art, lambda work: seen.append(sorted(p.name for p in work.rglob("*"))))
    assert seen == [["ckpt"]] and not stale.exists()
    assert art.done
