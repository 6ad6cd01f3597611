"""ONNX export: onnxruntime reproduces PyTorch (≤ 1e-4) for a full and a pruned model, with either exporter,
at any batch size; the asc-export command exports our checkpoints and Keras .h5 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc.deploy import export
from asc.nets.model import build_model, save_model

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


def test_the_requested_opset_is_written_or_refused(tmp_path, capsys):
    """--opset 13 once printed a converter traceback, 'wrote m.onnx' and exit 0 with an opset-18 file."""
    pt = tmp_path / "model.pt"
    save_model(randomised_model(PRUNED), pt)
    assert export.main([str(pt), str(tmp_path / "m13.onnx"), "--opset", "13"]) == 0
    assert export.written_opset(tmp_path / "m13.onnx") == 13
    captured = capsys.readouterr()
    assert "ONNX opset 13" in captured.out and "Traceback" not in captured.err
    assert (
        export.main([str(pt), str(tmp_path / "m25.onnx"), "--opset", "25", "--exporter", "torchscript"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "opset 25" in err and "torchscript exporter failed" in err
    assert not (tmp_path / "m25.onnx").exists() and not list(tmp_path.glob(".*tmp"))


@pytest.mark.slow
def test_dynamo_cannot_write_opset_13_and_says_so(tmp_path, capsys):
    pytest.importorskip("onnxscript")
    model = randomised_model(PRUNED)
    with pytest.raises(
        ValueError, match=r"opset 13: the dynamo exporter wrote opset 18; nothing was written"
    ) as e:
        export.export_onnx(model, tmp_path / "d.onnx", opset=13, exporter="dynamo")
    assert "--exporter auto tries both" in str(e.value) and not (tmp_path / "d.onnx").exists()
    assert "Traceback" not in capsys.readouterr().err
    path = export.export_onnx(
        model, tmp_path / "d17.onnx", opset=17, exporter="dynamo"
    )  # converts down: kept
    assert export.written_opset(path) == 17 and export.max_onnx_difference(model, path) <= 1e-4


def test_the_command_says_one_line_for_what_it_cannot_export(tmp_path, capsys):
    good = tmp_path / "m.pt"
    save_model(build_model({"widths": [2, 2, 4]}), good)
    assert (
        export.main([str(good), str(tmp_path / "s.onnx"), "--static-batch"]) == 0
    )  # checked at its own batch
    broken = build_model({"widths": [2, 2, 4]})
    with torch.no_grad():
        broken.features[0].weight[0, 0, 0, 0] = float("nan")
    save_model(broken, tmp_path / "nan.pt")
    torch.save({"features.0.weight": torch.zeros(2)}, tmp_path / "sd.pt")
    cases = [
        ([str(good), str(tmp_path / "a.onnx"), "--opset", "99"], "opsets 7-"),
        ([str(tmp_path / "nan.pt"), str(tmp_path / "b.onnx")], "non-finite"),
        ([str(tmp_path / "sd.pt"), str(tmp_path / "c.onnx")], "not an asc checkpoint"),
        ([str(tmp_path), str(tmp_path / "d.onnx")], "is a folder"),
    ]
    for argv, said in cases:
        capsys.readouterr()
        assert export.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], err
        assert not Path(argv[1]).exists()
