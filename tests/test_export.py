"""ONNX export: onnxruntime reproduces PyTorch (≤ 1e-4) for a full and a pruned model, with either exporter,
at any batch size; the asc-export command exports our checkpoints and Keras .h5 files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc import export
from asc.model import save_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

PRUNED = {"widths": [11, 9, 20]}


@pytest.mark.parametrize("spec", [None, PRUNED], ids=["full", "pruned"])
def test_onnxruntime_matches_pytorch(tmp_path, spec):
    model = randomised_model(spec)
    path = export.export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    assert export.max_onnx_difference(model, path, batch=3) <= 1e-4
    x = torch.randn(5, 1, 40, 500)  # another batch size than the example: the batch axis is dynamic
    out = export.onnx_session(path).run(["logits"], {"mel": x.numpy()})[0]
    np.testing.assert_allclose(out, model(x).detach().numpy(), atol=1e-4)
    assert model.training is False and not list(tmp_path.glob(".*tmp"))  # atomic: no temporary left behind


def test_dynamo_exporter(tmp_path):
    pytest.importorskip("onnxscript")
    model = randomised_model(PRUNED)
    path = export.export_onnx(model, tmp_path / "m.onnx", exporter="dynamo", dynamic_batch=True)
    assert export.max_onnx_difference(model, path, batch=2) <= 1e-4
    out = export.onnx_session(path).run(["logits"], {"mel": np.zeros((7, 1, 40, 500), np.float32)})[0]
    assert out.shape == (7, 10)


def test_static_batch_and_bad_exporter(tmp_path):
    model = randomised_model(PRUNED)
    path = export.export_onnx(model, tmp_path / "s.onnx", dynamic_batch=False, exporter="torchscript")
    assert export.onnx_session(path).get_inputs()[0].shape == [2, 1, 40, 500]
    with pytest.raises(ValueError, match="exporter='tf'"):
        export.export_onnx(model, tmp_path / "x.onnx", exporter="tf")


def test_asc_export_command(tmp_path, capsys):
    pt, h5 = tmp_path / "model.pt", tmp_path / "C123_best_model_dcase2021.h5"
    save_model(randomised_model(PRUNED), pt)
    write_keras_h5(h5, keras_layers(randomised_model(PRUNED, seed=1)))
    for src in (pt, h5):
        assert export.main([str(src), str(tmp_path / f"{src.stem}.onnx"), "--exporter", "torchscript"]) == 0
        assert (tmp_path / f"{src.stem}.onnx").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "widths [11, 9, 20]" in out and "onnxruntime vs PyTorch" in out
    assert export.main([str(tmp_path / "missing.pt"), str(tmp_path / "x.onnx")]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err
