"""ONNX export of zoo networks at CPU-sized widths, checked against onnxruntime: the input shape is passed
(``input_shape``) because zoo networks carry no ``spec`` attribute."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from asc import nets  # noqa: E402
from asc.export import export_onnx, max_onnx_difference  # noqa: E402
from tests.test_nets import SMALL, _config  # noqa: E402


@pytest.mark.parametrize("name", ["panns_cnn14", "vggish_asc"])
def test_zoo_export_matches_onnxruntime(repo_root, tmp_path, name):
    overrides, shape = SMALL[name]
    torch.manual_seed(0)
    model = nets.build({**_config(repo_root, name), **overrides}).eval()
    out = export_onnx(model, tmp_path / "m.onnx", input_shape=shape, exporter="torchscript", opset=17)
    assert out.is_file()
    assert max_onnx_difference(model, out, input_shape=shape) <= 1e-4
