"""Cost columns: DCASE-rule parameter memory, latency medians (cached per spec, RNG untouched), machine info."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from asc import cost

TINY = {"widths": [2, 3, 2], "input_shape": [20, 40], "pools": [None, [2, 2], [5, 4]], "dense": 4}
FAST = {"batch_sizes": (1, 4), "repeats": 3, "warmup": 1}


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


def test_median_stops_at_the_budget_but_not_below_three_runs():
    calls = []
    ms = cost._median_ms(lambda: calls.append(1), repeats=50, warmup=2, budget_s=0.0)
    assert len(calls) == 2 + 3 and ms >= 0
    calls.clear()
    cost._median_ms(lambda: calls.append(1), repeats=2, warmup=0, budget_s=10.0)
    assert len(calls) == 2
    calls.clear()
    cost._median_ms(lambda: calls.append(1), repeats=6, warmup=0, budget_s=10.0)
    assert len(calls) == 6


def test_measure_latency_is_cached_and_leaves_the_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    before = cost._measure.cache_info().hits
    first = cost.measure_latency(TINY, **FAST)
    assert torch.equal(torch.rand(3), expected)  # building the timing model did not draw from the global RNG
    assert set(first) == {"lat_cpu_b1_ms", "lat_cpu_b4_ms"} and all(v > 0 for v in first.values())
    # Same widths, different non-structural keys spelled differently: one cache entry.
    again = cost.measure_latency({**TINY, "widths": (2, 3, 2)}, **FAST)
    assert again == first and cost._measure.cache_info().hits == before + 1
    other = cost.measure_latency({**TINY, "widths": [1, 1, 1]}, **FAST)
    assert cost._measure.cache_info().hits == before + 1 and set(other) == set(first)


def test_measure_latency_rejects_bad_arguments():
    with pytest.raises(ValueError, match="device='tpu'"):
        cost.measure_latency(TINY, device="tpu")
    with pytest.raises(ValueError, match="repeats"):
        cost.measure_latency(TINY, repeats=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            cost.measure_latency(TINY, device="cuda")


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed")
def test_onnxruntime_latency():
    cols = cost.measure_latency(TINY, device="ort", **FAST)
    assert set(cols) == {"lat_ort_b1_ms", "lat_ort_b4_ms"} and all(v > 0 for v in cols.values())
    assert "ort" in cost.available_backends()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_latency():
    cols = cost.measure_latency(TINY, device="cuda", **FAST)
    assert set(cols) == {"lat_cuda_b1_ms", "lat_cuda_b4_ms"} and all(v > 0 for v in cols.values())
    assert cost.machine_info()["gpu"]


def test_cost_columns_and_machine():
    info = cost.machine_info()
    assert info["cores"] >= 1 and info["torch"] == torch.__version__ and info["cpu"]
    assert torch.__version__ in cost.machine_label(info)
    only_memory = cost.cost_columns(TINY, 1000, measure=False)
    assert set(only_memory) == {"mem_fp32_kb", "mem_fp16_kb", "mem_int8_kb", "dcase_fit_bits"}
    cols = cost.cost_columns(TINY, 1000, **FAST)
    assert {"lat_cpu_b1_ms", "lat_cpu_b4_ms", "machine"} <= set(cols) and cols["mem_fp32_kb"] == 3.91
    assert ("lat_ort_b1_ms" in cols) == ("ort" in cost.available_backends())
    assert set(cost.latency_columns(TINY, backends=["cpu"], **FAST)) == {"lat_cpu_b1_ms", "lat_cpu_b4_ms"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' is not available"):
            cost.latency_columns(TINY, backends=["cuda"], **FAST)


def test_pareto_mask():
    macs = [100, 80, 80, 50, 60, float("nan")]
    acc = [48, 46, 45, 40, 39, 50]
    # 80/45 is beaten by 80/46 (same cost, more accurate); 60/39 by 50/40; NaN cost is never on the front.
    assert cost.pareto_mask(macs, acc).tolist() == [True, True, False, True, False, False]
    assert cost.pareto_mask([1, 1], [5, 5]).tolist() == [True, True]  # ties dominate neither
