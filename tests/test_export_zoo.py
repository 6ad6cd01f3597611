"""ONNX export of zoo networks at CPU-sized widths, checked against onnxruntime: the input shape is passed
(``input_shape``) because zoo networks carry no ``spec`` attribute."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from test_nets import SMALL, _config  # noqa: E402

from asc import nets  # noqa: E402
from asc.deploy.export import export_onnx, max_onnx_difference  # noqa: E402


@pytest.mark.parametrize("name", ["panns_cnn14", "vggish_asc"])
def test_zoo_export_matches_onnxruntime(repo_root, tmp_path, name):
    overrides, shape = SMALL[name]
    torch.manual_seed(0)
    model = nets.build({**_config(repo_root, name), **overrides}).eval()
    out = export_onnx(model, tmp_path / "m.onnx", input_shape=shape, exporter="torchscript", opset=17)
    assert out.is_file()
    assert max_onnx_difference(model, out, input_shape=shape) <= 1e-4


@pytest.mark.parametrize("frames", [96, 200])  # one patch (the old `if n == 1` branch) and three
def test_vggish_onnx_at_batch_one_and_three(tmp_path, frames):
    torch.manual_seed(0)
    model = nets.build({"name": "vggish_asc", "widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}).eval()
    out = export_onnx(model, tmp_path / "v.onnx", input_shape=(64, frames), exporter="torchscript", opset=17)
    for batch in (1, 3):
        assert max_onnx_difference(model, out, batch=batch, input_shape=(64, frames)) <= 1e-5


def test_vggish_one_patch_gives_its_log_softmax():
    torch.manual_seed(0)
    model = nets.build({"name": "vggish_asc", "widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}).eval()
    x = torch.randn(2, 64, 96)
    expected = model.patch_logits(x.transpose(1, 2)[:, None]).log_softmax(-1)
    assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["panns_cnn10", "vggish_asc"])
def test_asc_export_writes_a_zoo_checkpoint_at_its_front_ends_input(tmp_path, capsys, name):
    """asc-export of an asc-net-1 checkpoint: the input shape from the network's front end (PANNs: 64 × 1001;
    VGGish: 64 × 997, i.e. 19 patches), checked through onnxruntime at batch 1 and 3."""
    from asc.deploy.export import main
    from asc.nets.checkpoint import save

    spec = {"name": name, "widths": [4, 4, 8, 8] if name == "panns_cnn10" else [4, 4, 8, 8, 8, 8]}
    if name == "vggish_asc":
        spec["dense"] = [16, 8]
    torch.manual_seed(0)
    save(nets.build(spec), tmp_path / "model.pt", spec)
    assert (
        main(
            [
                str(tmp_path / "model.pt"),
                str(tmp_path / "m.onnx"),
                "--exporter",
                "torchscript",
                "--opset",
                "17",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    shape = {"panns_cnn10": "64, 1001", "vggish_asc": "64, 997"}[name]
    assert f"model={name}" in out and f"(batch, 1, {shape})" in out and "at batch 1 and 3" in out


def test_the_input_of_a_network_comes_from_its_front_end():
    from asc.nets.families import front_end_input_shape

    with pytest.raises(ValueError, match="model.front_end=<features config> or model.input_shape"):
        front_end_input_shape({"name": "custom", "factory": "x:y"})
    assert front_end_input_shape({"name": "custom", "front_end": "panns64"}) == (64, 1001)
    assert front_end_input_shape({"name": "panns_cnn14", "n_mels": 32}) == (32, 1001)
