"""Latency side by side: option checks, interleaved rounds (rotation, budget, minimum rounds), the distinct
architectures of a results table, and one real measurement of two tiny architectures."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest
import torch

from asc.core.errors import ConfigError
from asc.deploy import latency, latency_options
from asc.nets.model import normalise_spec

TINY = {"widths": [2, 3, 2], "input_shape": [20, 40], "pools": [None, [2, 2], [5, 4]], "dense": 4}
OK = {"measure": True, "backends": None, "batch_sizes": [1, 64], "repeats": 15, "budget_s": 6.0}


def spec(**changes) -> str:
    return json.dumps(normalise_spec({**TINY, **changes}))


@pytest.mark.parametrize(
    "change, key",
    [
        ({"backends": ["tpu"]}, "backends"),
        ({"backends": []}, "backends"),
        ({"repeats": 0}, "repeats"),
        ({"repeats": 2.5}, "repeats"),
        ({"batch_sizes": []}, "batch_sizes"),
        ({"batch_sizes": [1, 0]}, "batch_sizes"),
        ({"batch_sizes": [-4]}, "batch_sizes"),
        ({"budget_s": -1}, "budget_s"),
        ({"budget_s": float("inf")}, "budget_s"),
        ({"measure": "yes"}, "measure"),
        ({"rounds": 3}, "rounds"),
    ],
)
def test_check_latency_options_names_the_key(change, key):
    with pytest.raises(ConfigError, match=rf"^runtime\.latency\.{key}=") as err:
        latency.check_latency_options({**OK, **change})
    assert "\n" not in str(err.value)


def test_the_configs_options_pass():
    from omegaconf import OmegaConf

    conf = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "config.yaml")
    latency.check_latency_options(OmegaConf.to_container(conf.runtime.latency))


def test_check_latency_options_knows_what_this_machine_has(monkeypatch):
    latency.check_latency_options(OK)
    latency.check_latency_options({**OK, "backends": ["cpu"], "budget_s": 0})
    monkeypatch.setattr(latency_options, "available_backends", lambda: ["cpu"])
    with pytest.raises(ConfigError, match="backends=.*onnxruntime is not installed"):
        latency.check_latency_options({**OK, "backends": ["cpu", "ort"]})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="backends=.*no CUDA device"):
        latency.check_latency_options({**OK, "backends": ["cuda"]})
    # Nothing is measured: a backend this machine lacks cannot fail.
    latency.check_latency_options({**OK, "measure": False, "backends": ["cuda", "ort"]})


class FakeClock:
    """perf_counter stand-in: each timed call takes ``cost[name]`` seconds."""

    def __init__(self):
        self.now, self.calls = 0.0, []

    def __call__(self):
        return self.now

    def runner(self, name, seconds):
        def run():
            self.calls.append(name)
            self.now += seconds

        return run


def test_interleaved_rounds_rotate_and_respect_the_budget():
    clock = FakeClock()
    runs = [clock.runner(n, 0.1) for n in "abc"]
    times = latency.interleaved_times(runs, rounds=4, budget_s=100, warmup=1, clock=clock)
    assert clock.calls[:3] == ["a", "b", "c"]  # warm-up
    assert clock.calls[3:] == list("abcbcacababc")  # no architecture always runs first
    assert [len(t) for t in times] == [4, 4, 4] and times[0][0] == pytest.approx(0.1)
    clock = FakeClock()
    runs = [clock.runner(n, 1.0) for n in "ab"]
    times = latency.interleaved_times(runs, rounds=20, budget_s=0.5, warmup=0, clock=clock)
    assert [len(t) for t in times] == [3, 3]  # over budget after round 1, but never fewer than 3 rounds
    times = latency.interleaved_times(runs, rounds=2, budget_s=0.0, warmup=0, clock=clock)
    assert [len(t) for t in times] == [2, 2]  # asked for fewer than 3


def test_specs_of_dedupes_spellings_and_labels_by_widths(caplog):
    a = spec()
    same = json.dumps(json.loads(a), indent=2, sort_keys=True)
    other_dense = spec(dense=5)
    with caplog.at_level(logging.WARNING, logger="asc.deploy.latency"):
        found = latency.specs_of(
            [a, same, "", None, float("nan"), "not json", other_dense, spec(widths=[1, 1, 1])]
        )
    assert list(found.values()) == ["2-3-2", "2-3-2#2", "1-1-1"]
    assert latency.canonical_spec(same) in found and "1 row(s)" in caplog.text


def test_measure_two_architectures_side_by_side():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    specs = latency.specs_of([spec(), spec(widths=[1, 1, 1])])
    table = latency.measure(specs, backends=["cpu"], batch_sizes=[1, 2], repeats=3, budget_s=0.0)
    assert torch.equal(torch.rand(3), expected)  # building the timing models did not draw from the global RNG
    assert list(table.columns) == latency.COLUMNS and len(table) == 4
    assert set(table["architecture"]) == {"2-3-2", "1-1-1"} and set(table["batch"]) == {1, 2}
    assert (table["rounds"] == 3).all() and (table["machine"] == latency.machine_label()).all()
    assert (table["min_ms"] <= table["q1_ms"]).all() and (table["q1_ms"] <= table["median_ms"]).all()
    assert (table["median_ms"] <= table["q3_ms"]).all() and (table["q3_ms"] <= table["max_ms"]).all()
    assert (table["min_ms"] > 0).all()
    with pytest.raises(ConfigError, match="backends"):
        latency.measure(specs, backends=["tpu"])


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed")
def test_onnxruntime_latency():
    table = latency.measure(
        latency.specs_of([spec()]), backends=["ort"], batch_sizes=[2], repeats=3, budget_s=0
    )
    assert list(table["backend"]) == ["ort"] and (table["median_ms"] > 0).all()
    assert "ort" in latency.available_backends()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_latency():
    table = latency.measure(
        latency.specs_of([spec()]), backends=["cuda"], batch_sizes=[2], repeats=3, budget_s=0
    )
    assert list(table["backend"]) == ["cuda"] and (table["median_ms"] > 0).all()
    assert latency.machine_info()["gpu"] and latency.machine_info()["gpu"] in latency.machine_label()
