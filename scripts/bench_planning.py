"""Planning's cost: ``asc dry_run=true`` beside a bare ``python -c "import torch"``, in one run.

Used by ``scripts/bench.py --section planning``. Each case is a fresh interpreter (what a user pays per
command: a dry run, a refusal, a ``--help``), run round by round in alternation so that a burst of load hits both;
the ratio of the medians is printed with the goal (a dry run of the demo ≤ 1.5× a bare torch import, issue 25).
The dry runs write into a temporary folder (nothing is built).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5


def _timed(argv: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    return time.perf_counter() - start


def bench_planning(*, repeats: int, table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = [
            f"paths.data={work / 'data'}",
            f"paths.store={work / 'store'}",
            f"paths.results={work / 'results'}",
        ]
        cases = {
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "asc dry_run=true (demo)": [sys.executable, "-m", "asc", "dry_run=true", *paths],
            "asc experiment=paper dry_run=true": [
                sys.executable, "-m", "asc", "experiment=paper", "dataset=standin", "dry_run=true", *paths,
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, argv in cases.items():
                times[name].append(_timed(argv, work))
    base = statistics.median(times["python -c 'import torch'"])
    rows = [
        [name, f"{statistics.median(t):.2f}", f"{statistics.median(t) / base:.2f}×"]
        for name, t in times.items()
    ]
    print(table(["command (fresh interpreter)", "median s", "vs import torch"], rows))
    ratio = statistics.median(times["asc dry_run=true (demo)"]) / base
    print(
        f"dry run of the demo / bare torch import: {ratio:.2f}× (goal ≤ {GOAL}×: {'met' if ratio <= GOAL else 'NOT met'})"
    )
