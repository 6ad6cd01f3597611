"""Accuracy at deployment precision (asc/deploy/quantised.py, stage quantise): the fp32/fp16/int8 ONNX files, their
accuracies checked against an independent onnxruntime evaluation, the size columns against the files, the
optional-dependency switch, and the cost table's accuracy at the precision each DCASE rule stores a model in."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from config_fixtures import NO_FIGURES, composed

from asc.core.errors import ConfigError
from asc.deploy import quantised

needs_ort = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="needs the [export] extra (onnx, onnxruntime)",
)
SPEC = {"widths": [4, 4, 8], "input_shape": [40, 50], "pools": [None, [5, 5], [4, 10]]}


def _independent_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime on its own (no asc code): the file's logits for clips x (N, mel, frames), on one intra-op thread
    (onnxruntime's default, a spinning thread a core, costs twice the CPU under a test worker)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x[:, None].astype(np.float32)})[0]


@needs_ort
def test_files_scores_and_sizes(tmp_path: Path) -> None:
    from asc.nets.model import build_model

    torch.manual_seed(0)
    model = build_model(SPEC).eval()
    rng = np.random.default_rng(0)
    train_x = rng.standard_normal((64, 40, 50)).astype(np.float32)
    eval_x = rng.standard_normal((40, 40, 50)).astype(np.float32)
    settings = quantised.keyed(composed()["quantise"])
    paths = quantised.write_files(model, tmp_path, train_x[:32], settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_fp16.onnx",
        "model_fp32.onnx",
        "model_int8.onnx",
    ]

    # Our probabilities are the softmax of what onnxruntime alone computes from the same file and inputs.
    for path in paths.values():
        z = _independent_logits(path, eval_x).astype(np.float64)
        expected = np.exp(z - z.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        np.testing.assert_allclose(
            quantised.onnx_probabilities(path, eval_x, batch_size=7), expected, atol=1e-6
        )
    # fp32 is the network; fp16 and int8 are close to it, int8 not identical (it is really quantised).
    ours = model(torch.from_numpy(eval_x)).detach().numpy()
    fp32, fp16, int8 = (_independent_logits(paths[p], eval_x) for p in ("fp32", "fp16", "int8"))
    np.testing.assert_allclose(fp32, ours, atol=1e-4)
    scale = np.abs(ours).max()
    assert np.abs(fp16 - ours).max() < 0.02 * scale
    assert 0 < np.abs(int8 - ours).max() < 0.2 * scale

    y = rng.integers(0, 10, len(eval_x))
    from asc.training.evaluate import metrics

    scores = {
        p: metrics(quantised.onnx_probabilities(f, eval_x), y, ["a"] * len(y), [str(i) for i in range(10)])
        for p, f in paths.items()
    }
    cols = quantised.columns(paths, scores)
    for p, f in paths.items():
        assert cols[f"onnx_bytes_{p}"] == f.stat().st_size == len(f.read_bytes())
        assert cols[f"accuracy_{p}"] == pytest.approx(
            float((_independent_logits(f, eval_x).argmax(1) == y).mean())
        )
    assert cols["onnx_bytes_fp16"] < cols["onnx_bytes_fp32"]


def test_enabled_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    q = composed()["quantise"]
    assert q["enabled"] == "auto"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a)
    )
    assert quantised.wanted(q) is False  # auto without onnxruntime: skipped
    with pytest.raises(ConfigError, match=r"onnxruntime.*pip install -e \"\.\[export\]\""):
        quantised.wanted({**q, "enabled": True})
    assert quantised.wanted({**q, "enabled": False}) is False
    with pytest.raises(ConfigError, match="quantise.enabled='yes'"):
        quantised.wanted({**q, "enabled": "yes"})
    with pytest.raises(ConfigError, match="calibrate_method"):
        quantised.keyed({**q, "calibrate_method": "kl"})


def test_plan_without_onnxruntime_keeps_every_other_step(monkeypatch, caplog) -> None:
    from asc.pipeline.plan import make_plan

    cfg = composed()
    with_q = make_plan(cfg)
    monkeypatch.setattr(quantised, "missing_packages", lambda: ["onnxruntime"])
    with caplog.at_level("INFO"):
        without = make_plan(cfg)
    assert not [s for s in without if s.stage == "quantise"]
    assert [s.key for s in without] == [s.key for s in with_q if s.stage != "quantise"]
    assert any('pip install -e ".[export]"' in r.getMessage() for r in caplog.records)


@needs_ort
def test_one_quantise_step_per_model_keyed_by_its_settings() -> None:
    from asc.pipeline.plan import make_plan

    steps = make_plan(composed())
    models = [s for s in steps if s.stage in ("train", "prune", "finetune")]
    q = [s for s in steps if s.stage == "quantise"]
    assert [s.upstream[0].id for s in q] == [s.id for s in models]
    other = make_plan(composed("quantise.calibration_clips=64"))
    assert {s.key for s in other if s.stage == "quantise"}.isdisjoint({s.key for s in q})
    assert [s.key for s in other if s.stage != "quantise"] == [s.key for s in steps if s.stage != "quantise"]


def test_accuracy_at_the_rule_precision() -> None:
    rows = pd.DataFrame(
        {
            "accuracy": [0.5, 0.6, 0.7],
            "accuracy_fp16": [0.49, 0.58, 0.69],
            "accuracy_int8": [0.45, 0.55, 0.65],
            "dcase_fit_bits": [32, 16, 8],
        }
    )
    got = quantised.deployed_accuracy(rows)
    assert got["accuracy_deployed"] == pytest.approx(100 * (0.5 + 0.58 + 0.65) / 3)
    assert got["accuracy_int8_pct"] == pytest.approx(55.0)
    assert "accuracy_deployed_d22" not in got
    assert math.isnan(quantised.accuracy_at_bits({"accuracy": 0.5}, 0))  # fits at no precision
    assert (
        quantised.deployed_accuracy(rows[["accuracy", "dcase_fit_bits"]]) == {}
    )  # a job without onnxruntime


@pytest.mark.slow
@needs_ort
def test_pipeline_rows_match_the_stored_files(tmp_path: Path, shared_data: Path) -> None:
    """In this process (``asc.run``): the files and rows are under test, not the command's process."""
    from test_cli import TINY_RECIPE, paths

    import asc
    from asc.frontend.splits import load_splits
    from asc.pipeline.chain import artifact_dir
    from asc.pipeline.plan import make_plan

    args = [
        *paths(tmp_path, data=shared_data, run=None),
        *TINY_RECIPE,
        "runs=[{criteria:[l1],fractions:[1.0],repeats:1}]",
        "model.widths=[4,4,8]",
    ]
    asc.run([*args, "runtime.latency.measure=false", *NO_FIGURES])
    rows = pd.read_csv(tmp_path / "results" / "results.csv").set_index("run_id")
    cost = (tmp_path / "results" / "cost.md").read_text()
    assert "int8 accuracy (%)" in cost and "Accuracy at DCASE 128 KB precision (%)" in cost
    cfg = composed(*args)
    steps = [s for s in make_plan(cfg) if s.stage == "quantise"]
    assert len(steps) == len(rows) == 3
    ev = None
    for step in steps:
        folder = artifact_dir(cfg["paths"], "quantise", step.key)
        if ev is None:
            feats, idx = (artifact_dir(cfg["paths"], u.stage, u.key) for u in step.upstream[1:])
            ev = load_splits(feats, idx).evaluate
        row = rows.loc[step.upstream[0].id]
        for p in quantised.PRECISIONS:
            f = folder / f"model_{p}.onnx"
            assert row[f"onnx_bytes_{p}"] == f.stat().st_size
            pred = _independent_logits(f, ev.x.numpy()).argmax(1)
            assert row[f"accuracy_{p}"] == pytest.approx(float((pred == ev.y.numpy()).mean()))
        assert row["accuracy_fp32"] == pytest.approx(row["accuracy"], abs=1.5 / len(ev.y))
        assert json.loads((folder / "columns.json").read_text())["accuracy_int8"] == row["accuracy_int8"]
