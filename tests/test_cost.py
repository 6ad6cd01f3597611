"""Counted cost (DCASE-rule parameter memory) and the report-time cost views: latency joined through each row's
model_spec, one point per model with its accuracy interval, the Pareto front, and the spread-vs-difference note."""

from __future__ import annotations

import json

import numpy as np
import pytest
from results_fixtures import make_latency, make_results

from asc.report import cost, cost_points, cost_views


def test_memory_columns_follow_the_dcase_rule():
    # The official DCASE 2021 baseline: 46,246 parameters = 90.3 KB at fp16, over the limit at fp32.
    assert cost.memory_columns(46246) == {
        "mem_fp32_kb": 180.65,
        "mem_fp16_kb": 90.32,
        "mem_int8_kb": 45.16,
        "dcase_fit_bits": 16,
    }
    assert cost.memory_columns(32768)["dcase_fit_bits"] == 32  # exactly 128 KB at fp32
    assert cost.memory_columns(32769)["dcase_fit_bits"] == 16
    assert cost.memory_columns(131072)["dcase_fit_bits"] == 8
    assert cost.memory_columns(131073)["dcase_fit_bits"] == 0


def test_join_latency_matches_spellings_and_drops_row_latencies():
    df = make_results(repeats=1)
    lat = make_latency(df)
    # A row's spec spelled differently (indented, keys in another order) is the same architecture.
    df.loc[5, "model_spec"] = json.dumps(json.loads(df.loc[5, "model_spec"]), indent=1, sort_keys=True)
    df.loc[6, "model_spec"] = ""  # an old row: no spec, no latency
    df["lat_cpu_b1_ms"] = 999.0  # measured one model at a time: not comparable, dropped
    joined = cost_points.join_latency(df, lat)
    assert cost_points.latency_columns_in(joined) == ["lat_cpu_b1_ms", "lat_cpu_b64_ms", "lat_ort_b1_ms"]
    expected = 0.5 + df["macs"] / 4e7
    assert joined.loc[5, "lat_cpu_b1_ms"] == pytest.approx(expected[5])
    assert np.isnan(joined.loc[6, "lat_cpu_b1_ms"]) and (joined["lat_cpu_b1_ms"] != 999.0).all()
    assert joined.loc[5, "lat_cpu_b1_q3_ms"] - joined.loc[5, "lat_cpu_b1_q1_ms"] == pytest.approx(
        0.1 * expected[5]
    )
    assert joined.loc[5, "latency_machine"].startswith("synthetic CPU")
    assert "lat_cpu_b1_ms" not in cost_points.join_latency(df, None)


def test_cost_points_carry_the_accuracy_interval():
    df = make_results(repeats=3, baseline_seeds=4)
    points = cost_points.cost_points(cost_points.join_latency(df, make_latency(df)))
    base = points.iloc[0]
    assert (
        base["criterion"] == "none"
        and base["n"] == 4
        and base["acc_low"] < base["accuracy"] < base["acc_high"]
    )
    cos = points[(points["criterion"] == "cosine") & (points["layers"] == "C1+C2+C3")].iloc[0]
    assert cos["n"] == 3 and cos["basis"] == "FT 100%" and np.isfinite(cos["lat_cpu_b1_q1_ms"])


def test_spread_notes_only_where_the_interquartile_ranges_overlap():
    df = make_results(repeats=1)
    tight = cost_points.cost_points(cost_points.join_latency(df, make_latency(df, spread=0.001)))
    assert cost_points.spread_notes(tight, ["lat_cpu_b1_ms"]) == []
    loose = cost_points.cost_points(cost_points.join_latency(df, make_latency(df, spread=0.05)))
    (note,) = cost_points.spread_notes(loose, ["lat_cpu_b1_ms"])
    assert note.startswith(cost_points.NOISE_NOTE) and "cpu batch 1" in note and "ms apart" in note


def test_pareto_mask():
    macs = [100, 80, 80, 50, 60, float("nan")]
    acc = [48, 46, 45, 40, 39, 50]
    # 80/45 is beaten by 80/46 (same cost, more accurate); 60/39 by 50/40; NaN cost is never on the front.
    assert cost_points.pareto_mask(macs, acc).tolist() == [True, True, False, True, False, False]
    assert cost_points.pareto_mask([1, 1], [5, 5]).tolist() == [True, True]  # ties dominate neither


def test_the_cost_table_shows_the_2022_rule_when_the_rows_carry_it():
    df = make_results(repeats=1)
    assert "2022 rule: params" not in cost_views.cost_table(df)  # TAU 2020 rows: the 2021 rule alone
    df = df.assign(d22_params=46118, d22_mem_fp32_kB=184.472, d22_mem_fp16_kB=92.236, d22_fit_bits=16)
    table = cost_views.cost_table(df)
    assert table["2022 rule: params"].iloc[0] == 46118 and table["fp16 (kB)"].iloc[0] == 92.236
    assert table["DCASE 128 kB"].iloc[0] == "fp16" and table["DCASE 128 KB"].iloc[0] == "fp16"


def test_the_front_end_macs_are_a_column_of_their_own():
    from config_fixtures import composed

    from asc.nets.cost import front_end_macs

    df = make_results(repeats=1)
    assert "Front-end MACs (M)" not in cost_views.cost_table(df)  # rows written before the column existed
    f = composed()["features"]  # the DCASE 2021 front end: 500 frames of a 2048-point FFT + 40 × 1025 mel
    fe = front_end_macs(f)
    assert fe == int(500 * (2 * 2048 * 11 + 40 * 1025 + 1764))
    table = cost_views.cost_table(df.assign(frontend_macs=fe))
    assert (table["Front-end MACs (M)"] == round(fe / 1e6, 2)).all()
    assert table.columns.get_loc("Front-end MACs (M)") == table.columns.get_loc("MACs (M)") + 1
    assert table["MACs (M)"].tolist() == cost_views.cost_table(df)["MACs (M)"].tolist()  # not folded in
