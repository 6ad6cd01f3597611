"""Quantisation-aware fine-tuning (``finetune.qat``, asc/training/qat.py): the fused, fake-quantised DCASE CNN trains,
converts to an int8 network that agrees with it, gives back its float weights; keyed only when on, refused on the
zoo's other families at planning, and its rows pool apart from plain fine-tuning (asc.report.rows.pooling_key)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.nets.model import build_model
from asc.pipeline.plan import make_plan
from asc.pipeline.validate import validate
from asc.report.queries import hard_labels, subsets
from asc.report.rows import pooling_key, step_pooling_key
from asc.training import qat

SPEC = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]]}  # small: fast


def _data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    return torch.randn(n, 40, 20, generator=g) + y[:, None, None] * 0.2, y


def test_prepare_train_convert_and_the_float_weights(tmp_path: Path) -> None:
    from torch.ao.quantization import disable_fake_quant

    from asc.training.train import Recipe, Run
    from asc.training.train_plain import train_one

    torch.manual_seed(0)
    model = build_model(SPEC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = qat.prepare(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the model is not changed
    x, y = _data()
    recipe = Recipe(epochs=2, batch_size=16, lr=1e-3, adam_eps=1e-7, select_after=0)
    run = Run(net, torch.arange(len(x)), 0, tmp_path / "run", recipe, "qat")
    history = train_one(run, (x, y), (x[:16], y[:16]))
    assert history["epochs"] == 2 and all(torch.isfinite(torch.tensor(e["loss"])) for e in history["history"])

    int8 = qat.convert(run.model)
    import torch.ao.nn.intrinsic.quantized as fused_int8
    import torch.ao.nn.quantized as int8_modules

    for kind in (fused_int8.ConvReLU2d, fused_int8.LinearReLU, int8_modules.Linear):  # int8 kernels
        assert any(isinstance(m, kind) for m in int8.modules()), kind
    fake = run.model.eval()
    with torch.no_grad():
        out_fake, out_int8 = fake(x), int8(x)
    step = float(int8.classifier[4].scale)  # the int8 output's quantisation step
    assert (out_int8 - out_fake).abs().max() <= 4 * step  # the int8 network is the fake-quantised one

    plain = qat.float_model(run.model)  # the trained float weights in an ordinary DCASE CNN
    assert type(plain).__name__ == "BaselineCNN" and plain.spec == build_model(SPEC).spec
    fake.apply(disable_fake_quant)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), fake(x), rtol=1e-4, atol=1e-5)
    changed = plain.state_dict()["features.0.weight"]
    assert not torch.equal(changed, before["features.0.weight"])  # trained


def test_keyed_only_when_on_and_refused_where_unsupported() -> None:
    def tuned(*overrides: str) -> list:
        return [s for s in make_plan(composed(*overrides)) if s.stage == "finetune"]

    plain, off, on = tuned(), tuned("finetune.qat=false"), tuned("finetune.qat=true")
    assert [s.key for s in off] == [s.key for s in plain]  # existing keys stay
    assert all("qat" not in s.config for s in plain) and all(s.config["qat"] is True for s in on)
    assert {s.key for s in on}.isdisjoint(s.key for s in plain)
    assert step_pooling_key(on[0]) != step_pooling_key(plain[0])
    assert step_pooling_key(on[0])[9] == "qat" and step_pooling_key(plain[0])[9] == ""  # then teacher, fold

    for overrides, says in (
        (
            ("dataset=demo1s", "model=dcase2024", "finetune.qat=true"),
            r"^finetune.qat=true is not supported for model=dcase2024",
        ),
        (("finetune.qat=maybe",), r"^finetune.qat='maybe' is not valid: expected true or false"),
        (
            ("finetune.qat=true", "finetune.eval_precision=fp16"),  # scored as int8 on the CPU: no effect
            r"^finetune.qat=true with finetune.eval_precision=fp16: .* set finetune.eval_precision=fp32",
        ),
    ):
        with pytest.raises(ConfigError, match=says) as err:
            validate(composed(*overrides))  # at planning, before any stage's checks
        assert "\n" not in str(err.value)


def test_qat_rows_pool_apart_from_plain_rows() -> None:
    row = {"stage": "finetune", "criterion": "l1", "layers": "C1+C2+C3", "ratio": "0.5", "fraction": "1.0"}
    assert pooling_key({**row, "qat": "True"}) != pooling_key(row)
    assert (
        pooling_key({**row, "qat": "False"}) == pooling_key(row) == pooling_key({**row, "qat": float("nan")})
    )
    df = pd.DataFrame([{**row, "qat": True, "split": ""}, {**row, "qat": float("nan"), "split": ""}])
    assert subsets(df).tolist() == ["100% QAT", "100%"]
    assert len(hard_labels(df)) == 1 and not hard_labels(df)["qat"].eq(True).any()
