"""fp16 and int8 (post-training static quantisation, ONNX Runtime's, as for the DCASE family) of zoo networks at
CPU-sized widths: the files take the network's own input shape, the int8 file's outputs are what onnxruntime alone
computes on the same inputs, and the columns follow the task (accuracy for scenes, mAP for tagging)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from config_fixtures import composed
from test_quantised import _independent_logits

from asc import nets
from asc.data.tasks import SCENES, TAGGING
from asc.deploy import quantised

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="needs the [export] extra (onnx, onnxruntime)",
)
TINY_NETS = {  # model overrides, (mel, frames)
    "panns_cnn10": (["model.widths=[4,4,8,8]"], (64, 101)),
    "vggish_asc": (["model.widths=[4,4,8,8,8,8]", "model.dense=[16,8]"], (64, 200)),
}


def _tiny(name: str) -> tuple[torch.nn.Module, tuple[int, int]]:
    overrides, shape = TINY_NETS[name]
    torch.manual_seed(0)
    model = nets.build(composed(f"model={name}", *overrides)["model"]).eval()
    for m in model.modules():  # randomised BN statistics: an untrained BN is the identity and hides errors
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model, shape


@pytest.mark.parametrize("name", sorted(TINY_NETS))
def test_zoo_files_match_an_independent_onnxruntime_evaluation(tmp_path: Path, name: str) -> None:
    model, shape = _tiny(name)
    rng = np.random.default_rng(0)
    train_x = rng.standard_normal((16, *shape)).astype(np.float32)
    eval_x = rng.standard_normal((12, *shape)).astype(np.float32)
    settings = quantised.keyed(composed()["quantise"])
    paths = quantised.write_files(model, tmp_path, train_x, settings, input_shape=shape)
    ours = model(torch.from_numpy(eval_x)).detach().numpy()
    fp32, fp16, int8 = (_independent_logits(paths[p], eval_x) for p in quantised.PRECISIONS)
    np.testing.assert_allclose(fp32, ours, atol=1e-4)
    scale = np.abs(ours).max()
    assert np.abs(fp16 - ours).max() < 0.05 * scale
    assert 0 < np.abs(int8 - ours).max() < 0.5 * scale  # really quantised, still the same network

    y = rng.integers(0, 10, len(eval_x))
    from asc.training.evaluate import metrics

    scores = {
        p: metrics(
            quantised.onnx_probabilities(f, eval_x, batch_size=5), y, ["a"] * len(y), list("0123456789")
        )
        for p, f in paths.items()
    }
    cols = quantised.columns(paths, scores, SCENES.columns)
    assert cols["accuracy_int8"] == pytest.approx(float((int8.argmax(1) == y).mean()))
    assert cols["onnx_bytes_int8"] == paths["int8"].stat().st_size  # (QDQ nodes outweigh a tiny net's bytes)


def test_tagging_columns_are_the_mean_average_precision_of_each_file(tmp_path: Path) -> None:
    from asc.training.tagging_metrics import tagging_metrics

    model, shape = _tiny("panns_cnn10")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, *shape)).astype(np.float32)
    y = (rng.random((16, 10)) < 0.3).astype(np.int64)
    y[0], y[1] = 1, 0  # every class has a positive and a negative clip
    paths = quantised.write_files(model, tmp_path, x, quantised.keyed(composed()["quantise"]), shape)
    probs = quantised.onnx_probabilities(paths["int8"], x, multi_label=True)
    expected = 1 / (1 + np.exp(-_independent_logits(paths["int8"], x).astype(np.float64)))
    np.testing.assert_allclose(probs, expected, atol=1e-9)
    scores = {
        p: tagging_metrics(quantised.onnx_probabilities(f, x, multi_label=True), y) for p, f in paths.items()
    }
    cols = quantised.columns(paths, scores, TAGGING.columns)
    assert {"mAP_fp16", "mAP_int8", "auc_int8", "d_prime_int8"} <= set(cols) and "accuracy_int8" not in cols
    assert cols["mAP_int8"] == pytest.approx(tagging_metrics(expected, y)["mAP"])


def test_a_zoo_network_plans_one_quantise_step_per_model() -> None:
    from asc.pipeline.plan import make_plan

    steps = make_plan(composed("model=panns_cnn10", "model.widths=[4,4,8,8]"))
    models = [s for s in steps if s.stage in ("train", "prune", "finetune")]
    assert [s.upstream[0].id for s in steps if s.stage == "quantise"] == [s.id for s in models]


@pytest.mark.slow
def test_zoo_pipeline_rows_carry_int8_accuracy_of_the_stored_files(tmp_path: Path, shared_data: Path) -> None:
    """In this process (``asc.run``, the CLI's job; the CLI process itself is tests/test_cli.py's)."""
    from test_zoo_pipeline import SMALL, TINY

    import asc
    from asc.frontend.splits import load_splits
    from asc.pipeline.chain import artifact_dir
    from asc.pipeline.plan import make_plan

    args = [
        "model=panns_cnn10",
        *SMALL["panns_cnn10"],
        *TINY,
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    asc.run([*args, "quantise.enabled=true"])
    rows = pd.read_csv(tmp_path / "results" / "results.csv").set_index("run_id")
    cfg = composed(*args)
    steps = [s for s in make_plan(cfg) if s.stage == "quantise"]
    assert len(steps) == len(rows) == 3
    step = steps[0]
    feats, idx = (artifact_dir(cfg["paths"], u.stage, u.key) for u in step.upstream[1:])
    ev = load_splits(feats, idx).evaluate
    for step in steps:
        folder, row = artifact_dir(cfg["paths"], "quantise", step.key), rows.loc[step.upstream[0].id]
        for p in quantised.PRECISIONS:
            pred = _independent_logits(folder / f"model_{p}.onnx", ev.x.numpy()).argmax(1)
            assert row[f"accuracy_{p}"] == pytest.approx(float((pred == ev.y.numpy()).mean()))
        assert row["accuracy_fp32"] == pytest.approx(row["accuracy"], abs=1.5 / len(ev.y))
