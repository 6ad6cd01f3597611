"""asc-time: model files (asc .pt, Keras .h5, ONNX) timed interleaved, each round a blocked autorange, threads
recorded; a table of median, IQR and min-max; one line for a file it cannot time."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc.deploy import latency, timing
from asc.nets.model import save_model

TINY = {"widths": [2, 3, 2], "input_shape": [20, 40], "pools": [None, [2, 2], [5, 4]], "dense": 4}
has_onnx = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))


def test_each_round_is_the_timers_value_and_the_order_rotates():
    calls, values = [], iter(range(1, 100))

    def timer(run):
        run()
        return float(next(values))

    runs = [lambda name=name: calls.append(name) for name in "ab"]
    times = latency.interleaved_times(runs, rounds=3, warmup=0, timer=timer)
    assert calls == ["a", "b", "b", "a", "a", "b"]  # rotated every round
    assert times == [[1.0, 4.0, 5.0], [2.0, 3.0, 6.0]]


def test_blocked_autorange_times_many_calls_per_round():
    count = []
    seconds = timing.blocked_autorange(0.02, threads=1)(lambda: count.append(1))
    assert 0 < seconds < 0.01 and len(count) > 10


def test_asc_time_prints_the_table(tmp_path, capsys):
    paths = []
    for i, widths in enumerate(([2, 3, 2], [4, 4, 4])):
        save_model(randomised_model({**TINY, "widths": widths}), tmp_path / f"m{i}.pt", config={}, label="t")
        paths.append(tmp_path / f"m{i}.pt")
    csv = tmp_path / "t.csv"
    code = timing.main(
        [*map(str, paths), "--rounds", "3", "--min-run-time", "0.01", "--threads", "1", "--csv", str(csv)]
    )
    out = capsys.readouterr().out
    assert code == 0 and "median (ms)" in out and "IQR (ms)" in out and "min–max (ms)" in out
    import pandas as pd

    table = pd.read_csv(csv)
    assert list(table.columns) == timing.COLUMNS and len(table) == 2
    assert (
        (table["rounds"] == 3).all()
        and (table["threads"] == 1).all()
        and (table["backend"] == "torch-cpu").all()
    )
    assert (table["q1_ms"] <= table["median_ms"]).all() and (table["median_ms"] <= table["q3_ms"]).all()
    assert (table["min_ms"] > 0).all()


def test_keras_and_onnx_files(tmp_path, capsys):
    h5 = tmp_path / "k.h5"
    write_keras_h5(h5, keras_layers(randomised_model(TINY)))
    files = [str(h5)]
    if has_onnx:
        from asc.deploy.export import export_onnx

        model = randomised_model(TINY)
        files.append(str(export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")))
    table = timing.time_files(files, rounds=2, min_run_time=0.01, threads=1, batch=2)
    assert table["backend"].tolist() == ["torch-cpu", "ort"][: len(files)]
    assert (table["batch"] == 2).all() and (table["rounds"] == 2).all()


def test_a_file_it_cannot_time_is_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a model")
    assert timing.main([str(bad), "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asc-time: ") and str(bad) in err and err.count("\n") == 1
    assert timing.main([str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        timing.main([str(bad), "--rounds", "0"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            timing.main([str(bad), "--device", "cuda"])
