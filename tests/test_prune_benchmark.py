"""Smoke test of the similarity benchmark (tiny sizes; the real table is `python -m asc.prune.benchmark`)."""

from __future__ import annotations

import pytest

from asc.prune.benchmark import format_table, main, similarity_benchmark


def test_benchmark_rows(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    rows = similarity_benchmark(sizes=(16, 40), c_in=8, landmarks=9, repeats=1)
    assert [r["n"] for r in rows] == [16, 40]
    for r in rows:
        assert r["kept_equal"] and r["kept_exact"] == r["kept_nystrom"] and r["nystrom_error"] < 1e-8
        assert r["exact_total_s"] > 0 and r["speedup"] > 0
        assert 1 <= r["auto_landmarks"] <= 10  # rank of 3×3 representatives ≤ 9
    assert "speedup" in format_table(rows) and "auto m" in format_table(rows)
    monkeypatch.setattr("asc.prune.benchmark.similarity_benchmark", lambda: rows)
    main()
    assert "exact ms" in capsys.readouterr().out
