"""The network zoo (asc/nets/): published parameter counts, CPU-sized forwards, the torch-free declarations, the
custom factory. Counts are taken on the meta device (no memory, no time); the slow tier runs the real widths."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

import asc.nets as nets
from asc.nets.families import FAMILIES, check_input, family_of

ZOO = sorted(n for n in FAMILIES if n != "custom")

# CPU-sized widths of each family: (config overrides, input (mel, frames)).
SMALL = {
    "dcase21": ({"widths": [4, 4, 8]}, (40, 500)),
    "dcase22": ({"widths": [4, 4, 8], "pools": [None, [5, 5], [4, 10]], "input_shape": [40, 51]}, (40, 51)),
    "dcase2024": ({"base_channels": 8}, (256, 65)),
    "vggish_asc": ({"widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}, (64, 200)),
    "panns_cnn14": ({"widths": [4, 4, 8, 8, 8, 8]}, (64, 101)),
    "panns_cnn10": ({"widths": [4, 4, 8, 8]}, (64, 101)),
    "panns_resnet38": ({"widths": [4, 4, 8, 8], "blocks": [1, 2, 1, 1], "head": 16}, (64, 101)),
    "efficientat_mn04": ({}, (128, 64)),
    "efficientat_mn10": ({"dropout": 0.1}, (128, 64)),
}


def _config(repo_root, name):
    spec = yaml.safe_load((repo_root / "conf" / "model" / f"{name}.yaml").read_text())
    spec.pop("defaults", None)
    return spec


def _n_params(model, bn_stats=False):
    n = sum(p.numel() for p in model.parameters())
    if bn_stats:  # Keras counts BatchNorm moving mean and variance as (non-trainable) parameters
        n += sum(m.running_mean.numel() * 2 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    return n


@pytest.mark.parametrize("name", ZOO)
def test_published_parameter_count(repo_root, name):
    fam = FAMILIES[name]
    spec = (
        {**_config(repo_root, name), "n_classes": 527} if fam.n_classes == 527 else _config(repo_root, name)
    )
    with torch.device("meta"):
        model = nets.build(spec)
    assert _n_params(model, fam.published_counts_bn_stats) == fam.published_params, fam.source
    assert fam.source


@pytest.mark.parametrize("name", ZOO)
def test_small_forward_and_declared_head(repo_root, name):
    overrides, shape = SMALL[name]
    spec = {**_config(repo_root, name), **overrides}
    torch.manual_seed(0)
    model = nets.build(spec).eval()
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, spec["n_classes"]) and torch.isfinite(out).all()
    module_names = {n for n, _ in model.named_modules()}
    import fnmatch

    for pattern in FAMILIES[name].ignored:  # every declared never-pruned glob names a real module
        assert any(fnmatch.fnmatch(n, pattern) for n in module_names), pattern


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_real_widths_forward(repo_root, name):
    fam = FAMILIES[name]
    model = nets.build(_config(repo_root, name)).eval()
    mels, frames = fam.input_shape
    with torch.no_grad():
        assert model(torch.randn(1, mels, frames)).shape == (1, 10)


def test_dcase_family_is_asc_model(repo_root):
    from asc.nets.model import build_model

    spec = _config(repo_root, "dcase22")
    a, b = nets.build(spec), build_model({k: v for k, v in spec.items() if k != "name"})
    assert type(a) is type(b) and a.spec == b.spec
    assert list(a.state_dict()) == list(b.state_dict())
    assert FAMILIES["dcase21"].fusable and FAMILIES["dcase21"].exact_surgery
    assert not any(f.fusable or f.exact_surgery for n, f in FAMILIES.items() if not n.startswith("dcase2"))


def test_declarations_import_no_torch(repo_root):
    code = (
        "import sys, asc.nets; asc.nets.family_of({'name': 'panns_cnn14'}); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def test_unknown_name_and_option_refused():
    with pytest.raises(ValueError, match="not a zoo network"):
        family_of({"name": "resnet50"})
    with pytest.raises(ValueError, match=r"no option\(s\) \['kernel'\]"):
        nets.build({"name": "panns_cnn10", "kernel": 5})


def test_vggish_clip_decision_is_sum_of_patch_softmaxes():
    torch.manual_seed(1)
    model = nets.build({"name": "vggish_asc", "widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8]}).eval()
    x = torch.randn(2, 64, 250)  # 4 patches of 96 frames every 48 (a 10-s clip's 997 frames give 19)
    patches = [x[:, :, s : s + 96] for s in range(0, 250 - 96 + 1, 48)]
    assert len(patches) == 4 == 1 + (250 - 96) // 48
    summed = sum(model(p).softmax(-1) for p in patches)
    assert torch.allclose(model(x).exp(), summed / 4, atol=1e-6)


def test_vggish_flatten_is_keras_layout_size():
    model = nets.build({"name": "vggish_asc"})
    assert model.fc1.in_features == 6 * 4 * 512


def test_check_input_names_the_mismatch():
    assert check_input({"n_mels": 64}, {"n_mels": 64, "frames": 1001}) is None
    assert "model.n_mels=64 but features.n_mels=40" in check_input(
        {"n_mels": 64}, {"n_mels": 40, "frames": 500}
    )
    assert "input_shape" in check_input({"input_shape": [40, 51]}, {"n_mels": 40, "frames": 500})
    assert "patch_frames" in check_input({"patch_frames": 96}, {"n_mels": 64, "frames": 51})


def test_custom_factory(tmp_path, monkeypatch):
    (tmp_path / "mynet.py").write_text(
        textwrap.dedent(
            """
            import torch
            def tiny(hidden=4, n_classes=10):
                return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40 * 51, hidden),
                                           torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"name": "custom", "factory": "mynet:tiny", "kwargs": {"hidden": 3}, "input_shape": [40, 51]}
    model = nets.build(spec)
    assert model(torch.zeros(2, 40, 51)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"expected \(1, 5\)"):
        nets.build({**spec, "n_classes": 5})
    with pytest.raises(ValueError, match="cannot import"):
        nets.build({**spec, "factory": "nosuchmodule_xyz:tiny"})
    with pytest.raises(ValueError, match="must be 'package.module:callable'"):
        nets.build({**spec, "factory": "mynet.tiny"})
