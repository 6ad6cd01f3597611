"""Demo generation (issue 11, item 5): workers die with a killed parent; a resumed run removes what a killed run
left half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from asc.data.demo import generate

CONF = Path(__file__).resolve().parents[1] / "conf"
REPO = CONF.parent
TINY = {
    **yaml.safe_load((CONF / "dataset" / "demo.yaml").read_text()),
    "cities": ["lisbon"],
    "train_locations": 1,
    "evaluate_locations": 1,
    "segments_per_location": 1,
    "clip_seconds": 1,
}

# Generates a large 10 s set with 2 workers: minutes of work, so it is surely still running when killed.
SCRIPT = """
import sys, yaml
from pathlib import Path
from asc.data.demo import generate
cfg = yaml.safe_load(Path(sys.argv[1]).read_text())
generate({**cfg, "workers": 2, "train_locations": 20}, Path(sys.argv[2]), progress=False)
"""


def children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is pid, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a killed orphan may stay a zombie if nobody reaps it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker pids from /proc (Linux)")
def test_workers_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    parent = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(CONF / "dataset" / "demo.yaml"), str(tmp_path)], env=env, cwd=REPO
    )
    try:
        deadline, workers = time.monotonic() + 60, []
        while time.monotonic() < deadline and parent.poll() is None:
            workers = children(parent.pid)
            if len(workers) >= 2 and any((tmp_path / "audio").glob("*.wav")):
                break
            time.sleep(0.1)
        assert parent.poll() is None and len(workers) >= 2, "generation did not start its workers"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    survivors = [w for w in workers if alive(w)]
    for w in survivors:  # do not leave them behind on a failure
        os.kill(w, signal.SIGKILL)
    assert not survivors, f"worker(s) {survivors} outlived their killed parent"


def test_resume_removes_half_written_clips(tmp_path: Path) -> None:
    generate({**TINY, "workers": 1}, tmp_path, progress=False)
    clips = sorted((tmp_path / "audio").glob("*.wav"))
    litter = tmp_path / "audio" / f".{clips[0].name}.12345.deadbeef.tmp"  # what a killed worker leaves
    litter.write_bytes(b"RIFF")
    clips[1].write_bytes(clips[1].read_bytes()[:1000])  # a truncated clip (e.g. copied by hand, disk full)
    kept = clips[2].stat().st_mtime_ns
    generate({**TINY, "workers": 1}, tmp_path, progress=False)
    assert not litter.exists()
    assert clips[1].stat().st_size == clips[0].stat().st_size  # rendered again, complete
    assert clips[2].stat().st_mtime_ns == kept
