"""model=dcase22 (the DCASE 2022 Task 1 baseline on 40 x 51): its counts equal the published ones, and every
pruning criterion, the surgery, fused training, ONNX export and Keras import work on it; the complexity rules."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
import yaml
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc.core.errors import ConfigError
from asc.nets.complexity import complexity
from asc.nets.model import build_model
from asc.prune import prune_model
from asc.report import rules
from asc.training.train import Recipe, Run, train_many

CONF = os.path.join(os.path.dirname(__file__), "..", "conf")
SPEC = {
    k: v
    for k, v in yaml.safe_load(open(os.path.join(CONF, "model", "dcase22.yaml"))).items()
    if k not in ("name", "defaults")
}


def test_counts_equal_the_published_baseline():
    model = build_model(SPEC)
    assert complexity(model) == {"params_torch": 46118, "params_keras": 46246, "macs": 29203560}
    assert rules.nessi_macs(model) == 29_234_920  # README: "Total MACs: 29,234,920"
    assert rules.tflite_int8_bytes(model) == 46_512  # README: "Total weight size: 46,512"
    x = torch.zeros(2, 1, 40, 51)
    assert model.features(x).shape == (2, 32, 2, 1)  # 40 x 51 -> 8 x 10 -> 2 x 1


def test_rule_columns_per_edition():
    model = build_model(SPEC)
    d22 = rules.rule_columns("dcase2022", model)
    assert d22["d22_params"] == 46118 and d22["d22_mem_fp16_kB"] == 92.236 and d22["d22_fit_bits"] == 16
    assert d22["d22_macs_ok"] and d22["d22_nessi_macs"] == 29_234_920
    d21 = rules.rule_columns("dcase2021", model)
    assert d21 == {"mem_fp32_kb": 180.65, "mem_fp16_kb": 90.32, "mem_int8_kb": 45.16, "dcase_fit_bits": 16}
    ten_s = build_model(dict(SPEC, input_shape=[40, 500], pools=[None, [5, 5], [4, 100]]))
    assert not rules.rule_columns("dcase2022", ten_s)["d22_macs_ok"]  # 286.6 M MACs per 10-s clip
    wide = build_model(dict(SPEC, widths=[24, 24, 40]))  # 85,580 parameters: int8 only
    assert rules.rule_columns("dcase2022", wide)["d22_fit_bits"] == 8
    assert rules.parameter_bytes(model.half()) == 2 * 46118  # stored precision: buffers not counted
    assert (
        rules.rule_for({"complexity_rule": "dcase2022"}) == "dcase2022" and rules.rule_for({}) == "dcase2021"
    )
    with pytest.raises(ConfigError, match="dataset.complexity_rule='dcase2019'"):
        rules.rule_for({"complexity_rule": "dcase2019"})


def _criteria() -> dict:
    from config_fixtures import composed  # the one way tests compose a config

    crit = composed("model=dcase22", "features=logmel40x51")["criteria"]
    return {k: v for k, v in crit.items() if k != "given"}  # `given` needs the user's kept indices


@pytest.mark.parametrize("name", sorted(_criteria()))
def test_every_criterion_prunes_dcase22(name):
    model = randomised_model(SPEC)
    pruned, info = prune_model(model, _criteria()[name])
    assert pruned.spec["input_shape"] == [40, 51] and info["widths"] != [16, 16, 32]
    assert pruned(torch.randn(3, 1, 40, 51)).shape == (3, 10)
    assert complexity(pruned)["macs"] < complexity(model)["macs"]


def test_surgery_equals_silencing_the_removed_filters():
    """Removing filters (C3 too: the dense columns of a 2 x 1 grid) computes what the full model computes with
    those channels silenced (BN scale and shift zero, so ReLU outputs 0)."""
    model = randomised_model(SPEC)
    kept = {"C1": [0, 3, 5, 9, 15], "C2": list(range(0, 16, 2)), "C3": [1, 4, 7, 30, 31]}
    pruned, _ = prune_model(model, {"name": "given", "layers": ["C1", "C2", "C3"], "kept": kept})
    silenced = copy.deepcopy(model)
    bns = [m for m in silenced.features if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn, layer in zip(bns, ("C1", "C2", "C3"), strict=True):
            gone = [i for i in range(bn.num_features) if i not in kept[layer]]
            bn.weight[gone] = 0
            bn.bias[gone] = 0
    x = torch.randn(4, 1, 40, 51)
    with torch.no_grad():
        torch.testing.assert_close(pruned.eval()(x), silenced.eval()(x), rtol=1e-5, atol=1e-5)


def test_fused_training_of_dcase22_equals_one_by_one(tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (10,), generator=g)
    x = torch.randn(10, 40, 51, generator=g, dtype=torch.float32)
    val = torch.randn(4, 40, 51, generator=g, dtype=torch.float32), torch.randint(0, 10, (4,), generator=g)
    recipe = Recipe(epochs=1, batch_size=4, lr=1e-3, adam_eps=1e-7, select_after=0)

    def runs(root):
        return [
            Run(
                randomised_model(SPEC, seed=i),
                torch.arange(i, 10, 1 + i),
                5 + i,
                root / f"r{i}",
                recipe,
            )
            for i in range(2)
        ]

    fused, alone = runs(tmp_path / "f"), runs(tmp_path / "a")
    train_many(fused, (x, y), val, progress=False)  # the fused schedule (grouped convs: tests/test_fused.py)
    train_many(alone, (x, y), val, fuse=False, progress=False)
    for a, b in zip(fused, alone, strict=True):
        for key, value in a.model.state_dict().items():
            assert torch.equal(value, b.model.state_dict()[key]), key


def test_onnx_export_of_dcase22(tmp_path):
    pytest.importorskip("onnxruntime")
    from asc.deploy.export import export_onnx, max_onnx_difference

    model = randomised_model(SPEC)
    path = export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    assert max_onnx_difference(model, path) < 1e-4


def test_keras_import_of_dcase22(tmp_path):
    from asc.nets.keras_io import load_keras_h5

    original = randomised_model(dict(SPEC, widths=[5, 7, 9]))  # a pruned DCASE 2022 network
    model, _ = load_keras_h5(write_keras_h5(tmp_path / "m.h5", keras_layers(original)))
    assert model.spec["input_shape"] == [40, 51] and model.spec["pools"] == [None, [5, 5], [4, 10]]
    x = torch.randn(2, 1, 40, 51)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(x).numpy(), original.eval()(x).numpy(), atol=1e-5)
