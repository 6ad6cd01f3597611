"""Smoke test of scripts/bench.py: the quick run finishes and prints its ratio lines (timings are never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def bench(*args: str, timeout: float) -> str:
    """stdout of ``scripts/bench.py --quick <args>``, which must exit 0."""
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's asc, not whichever is installed
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow  # runs scripts/bench.py in a subprocess: minutes on 2 cores (timeout 900 s)
def test_bench_quick_runs_each_section_and_prints_its_ratios():
    """One run of the sections (each script start costs seconds): features, training, fused, and the grid."""
    out = bench("--section", "features,train,fused,grid", "--experiment", "paper_fig3", timeout=900)
    assert "best CPU ratio ours/librosa:" in out, out
    assert "goal ≥ 2×" in out, out
    assert "librosa, per clip" in out and "ours float64, batch 16" in out, out
    assert "best CPU variant vs plain eager:" in out, out
    assert "channels_last" in out and "eager, 1 thread" in out, out
    assert "Decode + features" not in out, out  # --section restricts what runs
    for m in (4, 8):
        assert f"cpu ratio fused/one-by-one at M={m}:" in out, out
    assert (
        "fused M=1" in out and "today's fit" in out and "one-by-one (fused code, M=1) vs today's fit" in out
    ), out
    assert "experiment=paper_fig3 on dataset=standin" in out and "'finetune': 7" in out, out
    assert "fused" in out and "one-by-one" in out  # the fused section's own lines; the grid runs fused alone
    # the projection counts the real experiment: 7 layer sets × 5 repeats at scale 1
    assert "projection of the full grid (scale 1, 35 fine-tuning runs" in out, out
