"""Smoke test of scripts/bench_nystrom_nets.py (issue 33's benchmark: exact vs Nyström similarity pruning time on
VGGish_Net's and CNN14's convs, printed as a ratio), in process at a sixteenth of the widths; timings are never
asserted, only that every conv is timed and the total ratio is printed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(("name", "n_convs"), [("vggish_asc", 6), ("panns_cnn14", 12)])
def test_bench_prints_every_conv_and_the_ratio(name, n_convs, capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_nystrom_nets", ROOT / "scripts" / "bench_nystrom_nets.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    ratio = script.bench(name, scale=1 / 16, landmarks=4, repeats=1)
    out = capsys.readouterr().out
    assert ratio > 0
    assert [f"C{i}" for i in range(1, n_convs + 1)] == re.findall(r"^\s+(C\d+)\s", out, flags=re.M)
    assert re.search(
        r"^\s+total\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\(paper, VGGish: 34.81 / 11.71", out, flags=re.M
    )
