"""Zoo checkpoints (asc/nets/checkpoint.py): rebuild + weights_only round trips, refusals in one line, a user's
pretrained weights (PANNs' {'model': …}, bare state dicts, the authors' Keras VGGish_Net .h5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asc.nets import build
from asc.nets.checkpoint import load, read_pretrained, save

SMALL = {
    "dcase2024": ({"name": "dcase2024", "base_channels": 8}, (256, 65)),
    "panns_cnn10": ({"name": "panns_cnn10", "widths": [4, 4, 8, 8], "n_classes": 10}, (64, 101)),
    "panns_resnet38": (
        {
            "name": "panns_resnet38",
            "widths": [4, 4, 8, 8],
            "blocks": [1, 2, 1, 1],
            "head": 16,
            "n_classes": 10,
        },
        (64, 101),
    ),
    "efficientat_mn04": ({"name": "efficientat_mn04", "n_classes": 10}, (128, 64)),
    "vggish_asc": ({"name": "vggish_asc", "widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}, (64, 96)),
}


def _randomised(spec):
    torch.manual_seed(0)
    model = build(spec)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "running_var" in name else torch.randn_like(t) * 0.1)
    return model.eval()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_round_trip_rebuilds_the_same_network(tmp_path, name):
    spec, shape = SMALL[name]
    model = _randomised(spec)
    save(model, tmp_path / "m.pt", spec, label="x")
    again, extra = load(tmp_path / "m.pt")
    x = torch.randn(2, *shape)
    assert torch.equal(model(x), again.eval()(x))
    assert extra["spec"] == spec and extra["history"] == [] and extra["label"] == "x"


def test_dcase_checkpoints_load_as_before(tmp_path):
    from asc.nets.model import build_model, save_model

    model = build_model()
    save_model(model, tmp_path / "old.pt", label="baseline")
    again, extra = load(tmp_path / "old.pt")
    assert again.spec == model.spec and extra["label"] == "baseline"


def test_a_history_that_does_not_fit_is_refused(tmp_path):
    pytest.importorskip("torch_pruning")
    spec, _ = SMALL["panns_cnn10"]
    save(build(spec), tmp_path / "m.pt", spec, history=[("conv_block9.conv1", True, [0, 1])])
    with pytest.raises(
        ValueError,
        match=r"pruning history does not fit model=panns_cnn10 \(pruning history entry 0 cuts 'conv_block9.conv1'",
    ):
        load(tmp_path / "m.pt")


def test_a_state_dict_that_does_not_fit_is_refused(tmp_path):
    spec, _ = SMALL["panns_cnn10"]
    model = build(spec)
    state = model.state_dict()
    state["fc1.weight"] = torch.zeros(3, 3)
    torch.save(
        {
            "format": "asc-net-1",
            "architecture": "panns_cnn10",
            "arguments": {k: v for k, v in spec.items() if k != "name"},
            "history": [],
            "state_dict": state,
        },
        tmp_path / "m.pt",
    )
    with pytest.raises(ValueError, match=r"fc1.weight has shape \(3, 3\), the network's is \(8, 8\)"):
        load(tmp_path / "m.pt")


def test_panns_checkpoint_drops_the_front_end(tmp_path):
    spec, shape = SMALL["panns_cnn10"]
    source = _randomised(spec)
    state = dict(source.state_dict())
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    state["logmel_extractor.melW"] = torch.zeros(513, 64)
    torch.save({"model": state, "iteration": 1}, tmp_path / "Cnn10.pth")
    model = read_pretrained(tmp_path / "Cnn10.pth", spec).eval()
    x = torch.randn(2, *shape)
    assert torch.equal(model(x), source(x))


def test_pretrained_with_other_classes_is_refused_naming_the_layer(tmp_path):
    spec, _ = SMALL["panns_cnn10"]
    torch.save({"model": build({**spec, "n_classes": 527}).state_dict()}, tmp_path / "p.pth")
    with pytest.raises(
        ValueError, match=r"fc_audioset.weight has shape \(527, 8\), the network's is \(10, 8\)"
    ):
        read_pretrained(tmp_path / "p.pth", spec)
    torch.save(build(SMALL["dcase2024"][0]).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"missing bn0.weight"):
        read_pretrained(tmp_path / "other.pt", spec)


def test_keras_vggish_h5_maps_channels_last_flatten(tmp_path):
    h5py = pytest.importorskip("h5py")
    spec, shape = SMALL["vggish_asc"]
    source = _randomised(spec)
    sd = {k: v.numpy() for k, v in source.state_dict().items()}
    names = {
        "conv1": "conv1",
        "conv2": "conv2",
        "conv3_1": "conv3/conv3_1",
        "conv3_2": "conv3/conv3_2",
        "conv4_1": "conv4/conv4_1",
        "conv4_2": "conv4/conv4_2",
        "fc1": "vggish_fc1/fc1_1",
        "fc2": "vggish_dense2",
        "out": "vggish_out",
    }
    with h5py.File(tmp_path / "vggish.h5", "w") as f:
        for ours, keras in names.items():
            w, b = sd[f"{ours}.weight"], sd[f"{ours}.bias"]
            if w.ndim == 4:
                kernel = w.transpose(2, 3, 1, 0)  # OIHW → HWIO
            elif ours == "fc1":  # torch flattens (C, H, W); Keras (H, W, C)
                c = sd["conv4_2.weight"].shape[0]
                kernel = w.reshape(w.shape[0], c, 6, 4).transpose(2, 3, 1, 0).reshape(-1, w.shape[0])
            else:
                kernel = w.T
            f.create_dataset(f"model_weights/{keras}/{keras}/kernel:0", data=kernel)
            f.create_dataset(f"model_weights/{keras}/{keras}/bias:0", data=b)
    model = read_pretrained(tmp_path / "vggish.h5", spec).eval()
    x = torch.randn(2, *shape)
    assert torch.allclose(model(x), source(x), atol=1e-6)
    assert np.array_equal(model.fc1.weight.detach().numpy(), sd["fc1.weight"])


def test_user_readers_load_a_zoo_checkpoint(tmp_path):
    """asc.load_model(row) and read_model_file (asc-export, init_from) read asc-net-1 checkpoints, not only DCASE."""
    import asc
    from asc.nets.model_file import read_model_file

    spec, shape = SMALL["panns_cnn10"]
    model = _randomised(spec)
    save(model, tmp_path / "m.pt", spec)
    x = torch.randn(2, *shape)
    for loaded in (
        asc.load_model({"checkpoint": str(tmp_path / "m.pt")}),
        read_model_file(tmp_path / "m.pt")[0],
    ):
        assert torch.allclose(loaded.eval()(x), model(x), atol=1e-6)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="not an asc checkpoint") as err:
        read_model_file(tmp_path / "bare.pt")
    assert "\n" not in str(err.value) and str(err.value).count("(") == 1


def four_d_net():
    """A factory whose network takes (batch, 1, mel, frames), as asc's custom networks do not get."""
    return torch.nn.Sequential(torch.nn.Flatten(2), torch.nn.Linear(8, 10))


def test_a_custom_factory_failing_on_the_input_is_told_the_shape():
    from asc.nets import custom

    with pytest.raises(
        ValueError, match=r"forward fails on a \(batch, mel bands, frames\).*unsqueeze"
    ) as err:
        custom.build(f"{__name__}:four_d_net", n_classes=10, input_shape=(4, 5))
    assert "\n" not in str(err.value)


def test_a_collapsed_network_is_warned_about_in_one_line(caplog):
    from asc.training.evaluate import warn_one_class

    classes = [f"c{k}" for k in range(10)]
    labels = np.arange(100) % 10
    assert warn_one_class(np.full(100, 7), labels, classes)
    assert (
        len(caplog.records) == 1
        and "predicts class 'c7' for 100% of 100 clips" in caplog.records[0].getMessage()
    )
    assert not warn_one_class(labels.copy(), labels, classes)  # a spread of predictions: no line
    assert not warn_one_class(np.full(100, 7), np.full(100, 7), classes)  # labels that skewed: no line
