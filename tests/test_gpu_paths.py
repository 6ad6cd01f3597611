"""Every GPU-only branch of the fused trainer, run on the CPU under its switch, gives the plain path's result:
the convolution formulations (asc.training.fused_conv), counter-hash dropout, CUDA-graph bookkeeping (emulated), batched
evaluation of all models, feature residency and the torch.compile capture. Float64 where training dynamics would
amplify float32 reordering (see tests/test_fused.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import asc.training.train
from asc.nets.model import build_model
from asc.training import device as asc_device
from asc.training import fused, fused_conv, fused_ops
from asc.training.evaluate import predict, predict_many
from asc.training.graphs import GraphedSteps
from asc.training.train import Recipe, Run, train_many

SPEC = {"widths": [3, 4, 5], "input_shape": [20, 100], "pools": [None, [5, 5], [4, 20]]}
TOL = {"rtol": 1e-9, "atol": 1e-9}
RECIPE = Recipe(epochs=2, batch_size=4, lr=1e-3, adam_eps=1e-7, select_after=0)


def models(n: int, dtype: torch.dtype = torch.float64) -> list[torch.nn.Module]:
    out = []
    for i in range(n):
        torch.manual_seed(50 + i)
        out.append(build_model(SPEC).to(dtype))
    return out


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    y = torch.randint(0, 10, (14,), generator=g)
    x = torch.randn(14, 20, 100, generator=g, dtype=torch.float64) + y[:, None, None] * 0.1
    return {"train": (x, y), "val": (torch.randn(6, 20, 100, generator=g, dtype=torch.float64), y[:6])}


def runs(root: Path, recipe: Recipe = RECIPE, dropout: float | None = None) -> list[Run]:
    """Subsets of 14, 9 and 6 clips at batch 4: ragged steps and short last batches."""
    out = []
    for i, (n, net) in enumerate(zip((14, 9, 6), models(3), strict=True)):
        idx = torch.randperm(14, generator=torch.Generator().manual_seed(i))[:n]
        out.append(Run(net, idx, seed=20 + i, workdir=root / f"r{i}", recipe=recipe, label=f"r{i}"))
    return out


def assert_runs_equal(a: list[Run], b: list[Run], exact: bool = False) -> None:
    for ra, rb in zip(a, b, strict=True):
        sa, sb = ra.model.state_dict(), rb.model.state_dict()
        for name, value in sa.items():
            if exact:
                assert torch.equal(value, sb[name]), name
            else:
                torch.testing.assert_close(value, sb[name], **TOL, msg=name)


# ------------------------------------------------------------------ convolution formulations
@pytest.mark.parametrize("form", ["split", "im2col"])
@pytest.mark.parametrize("c_in", [1, 3])
def test_conv_formulations_equal_the_grouped_conv_and_its_gradients(form, c_in, monkeypatch) -> None:
    monkeypatch.setattr(fused_conv, "IM2COL_BYTES", 2 * 3 * c_in * 49 * 60 * 8)  # chunks of 2 models of 3
    g = torch.Generator().manual_seed(c_in)
    x = torch.randn(3, 3 * c_in, 6, 10, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, c_in, 7, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    go = torch.randn(3, 12, 6, 10, generator=g, dtype=torch.float64)
    ref = fused_conv.conv_grouped(x, w, b, (3, 3), 3, False)
    for i in range(3):  # the grouped conv is itself each model's plain conv
        plain = F.conv2d(x[:, i * c_in : (i + 1) * c_in], w[i], b[i], padding=3)
        torch.testing.assert_close(ref[:, 4 * i : 4 * i + 4], plain, **TOL)
    out = fused_conv.CONV[form](x, w, b, (3, 3), 3, False)
    torch.testing.assert_close(out, ref, **TOL)
    grads = torch.autograd.grad(out, (x, w, b), go)
    for got, want in zip(grads, torch.autograd.grad(ref, (x, w, b), go), strict=True):
        torch.testing.assert_close(got, want, **TOL)


def test_im2col_refuses_kernels_it_does_not_compute() -> None:
    x, w, b = torch.randn(1, 2, 5, 5), torch.randn(2, 1, 1, 3, 3), torch.randn(2, 1)
    with pytest.raises(ValueError, match="same"):
        fused_conv.conv_im2col(x, w, b, (0, 0), 2)
    with pytest.raises(ValueError, match="formulation"):
        fused_conv.check("winograd")


@pytest.mark.parametrize("form", ["split", "im2col"])
def test_fused_training_with_each_formulation_equals_training_alone(form, data, tmp_path) -> None:
    together, alone = runs(tmp_path / "f"), runs(tmp_path / "a")
    train_many(together, data["train"], data["val"], progress=False, group_size=8, formulation=form)
    train_many(alone, data["train"], data["val"], progress=False, fuse=False, formulation="grouped")
    assert_runs_equal(together, alone)


def test_auto_formulation_is_grouped_on_the_cpu() -> None:
    stack = fused.FusedStack(models(2), "cpu", formulation="auto")
    x, y = torch.randn(4, 2, 20, 100, dtype=torch.float64), torch.randint(0, 10, (4, 2))
    kw = {
        "lr": torch.full((2,), 1e-3, dtype=torch.float64),
        "eps": torch.full((2,), 1e-7),
        "seeds": torch.arange(2),
    }
    stack.train_step([0, 1], x, y, **kw)
    assert stack.chosen == "grouped" and stack.conv_for(2) == "grouped"
    assert fused.FusedStack(models(2), "cpu", formulation="split").conv_for(1) == "split"


# ------------------------------------------------------------------ counter-hash dropout on the CPU
def test_hash_dropout_fused_equals_alone_and_is_the_masks_cuda_draws(data, tmp_path) -> None:
    together, alone, gen = runs(tmp_path / "f"), runs(tmp_path / "a"), runs(tmp_path / "g")
    train_many(together, data["train"], data["val"], progress=False, group_size=8, dropout_rng="hash")
    train_many(alone, data["train"], data["val"], progress=False, fuse=False, dropout_rng="hash")
    train_many(gen, data["train"], data["val"], progress=False, group_size=8)
    assert_runs_equal(together, alone)
    w = "classifier.1.weight"
    assert not torch.allclose(together[0].model.state_dict()[w], gen[0].model.state_dict()[w])
    keys = fused_ops.layer_keys(torch.tensor([3, 2**40]), torch.tensor([5, 0]), 2)
    mask = fused_ops.keep_mask(keys[1], 4, 30, 0.3, "hash")
    assert not torch.equal(mask, fused_ops.keep_mask(keys[1], 4, 30, 0.3, "auto"))  # CPU auto: generator
    u = fused_ops.hash_uniform(keys[1], 4, 30)
    assert torch.equal(mask, (u >= 0.3).float() / 0.7)
    for i, k in enumerate(keys):  # the per-step shortcut gives dropout_keys' keys
        assert torch.equal(k, fused_ops.dropout_keys(torch.tensor([3, 2**40]), torch.tensor([5, 0]), i))
    with pytest.raises(ValueError, match="dropout rng"):
        fused_ops.keep_mask(keys[0], 1, 2, 0.3, "philox")


# ------------------------------------------------------------------ CUDA graphs, emulated
def test_graphed_steps_capture_on_the_nth_occurrence_and_cap_the_graphs() -> None:
    calls: list[tuple] = []

    def step(sel, x, y):
        calls.append((tuple(sel), x.data_ptr()))
        return x.sum(0)

    g = GraphedSteps(step, torch.device("cpu"), emulate=True, after=2, max_graphs=1)
    a, b = torch.ones(2, 1), torch.ones(3, 1)
    y2, y3 = torch.zeros(2, 1), torch.zeros(3, 1)
    for _ in range(3):
        assert torch.equal(g([0], a, y2), a.sum(0))
    assert g.replays == 2 and len(g.graphs) == 1
    static = g.graphs[next(iter(g.graphs))][1]
    assert calls[0][1] == a.data_ptr() and calls[1][1] == calls[2][1] == static.data_ptr()  # replays: static
    for _ in range(3):  # a second shape: over max_graphs, stays eager
        g([0], b, y3)
    assert g.replays == 2 and len(g.graphs) == 1
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        GraphedSteps(step, torch.device("cpu"))


def test_training_through_emulated_graphs_is_bit_for_bit_eager(data, tmp_path, monkeypatch) -> None:
    made: list[GraphedSteps] = []

    class Spy(GraphedSteps):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self)

    monkeypatch.setattr(asc.training.train, "GraphedSteps", Spy)
    recipe = Recipe(epochs=2, batch_size=4, lr=1e-3, adam_eps=1e-7, select_after=0)
    graphed, eager = runs(tmp_path / "g", recipe), runs(tmp_path / "e", recipe)
    h_g = train_many(graphed, data["train"], data["val"], progress=False, group_size=8, graphs=True)
    h_e = train_many(eager, data["train"], data["val"], progress=False, group_size=8, graphs=False)
    assert len(made) == 1 and made[0].replays > 0 and made[0].emulate
    assert_runs_equal(graphed, eager, exact=True)
    assert [e["loss"] for e in h_g[2]["history"]] == [e["loss"] for e in h_e[2]["history"]]
    with pytest.raises(ValueError, match="exclusive"):
        train_many(graphed, data["train"], data["val"], progress=False, graphs=True, compile="eager")


# ------------------------------------------------------------------ batched evaluation, residency, compile
@pytest.mark.parametrize("form", ["grouped", "split", "im2col"])
def test_all_models_in_one_batched_evaluation_pass_equal_each_alone(form) -> None:
    nets = models(3, torch.float32)
    x = torch.randn(7, 20, 100)
    many = predict_many(nets, x, batch_size=4, group_size=3, formulation=form)
    for net, probs in zip(nets, many, strict=True):
        np.testing.assert_allclose(probs, predict(net, x, batch_size=5), rtol=1e-5, atol=1e-6)


def test_features_stay_where_they_fit() -> None:
    x = torch.zeros(10, 10)  # 400 bytes
    assert asc_device.fits(x, free_bytes=802) and not asc_device.fits(x, free_bytes=800)
    assert asc_device.on_device(x, torch.device("cuda"), resident=False) is x  # batches gathered on the host
    assert asc_device.on_device(x, torch.device("cpu")) is x


@pytest.mark.slow  # ~20 s of tracing on 2 cores
def test_aot_eager_compiled_training_equals_eager(data, tmp_path) -> None:
    """aot_eager traces forward and backward (AOT autograd) and replays the traced ops: the capture that
    inductor compiles on a GPU, checked without a compiler."""
    recipe = Recipe(epochs=1, batch_size=4, lr=1e-3, adam_eps=1e-7, select_after=0)
    plain, comp = runs(tmp_path / "p", recipe)[:1], runs(tmp_path / "c", recipe)[:1]
    train_many(plain, data["train"], data["val"], progress=False)
    train_many(comp, data["train"], data["val"], progress=False, compile="aot_eager")
    assert_runs_equal(plain, comp)


def test_runtime_speed_options_map_to_train_many_and_name_bad_values() -> None:
    from asc.core.errors import ConfigError
    from asc.training.speed import speed_options

    rt = {"compile": False, "formulation": "auto", "cuda_graphs": "auto", "cudnn_benchmark": False}
    want = {"compile": False, "formulation": "auto", "graphs": None, "cudnn_benchmark": False}
    assert speed_options(rt) == want
    assert speed_options({**rt, "cuda_graphs": False, "compile": "reduce-overhead"})["graphs"] is False
    for bad, key in (
        ({"formulation": "fft"}, "runtime.formulation"),
        ({"cuda_graphs": "yes"}, "runtime.cuda_graphs"),
        ({"compile": 3}, "runtime.compile"),
        ({"cudnn_benchmark": "on"}, "runtime.cudnn_benchmark"),
        ({"cuda_graphs": True, "compile": True}, "exclusive"),
    ):
        with pytest.raises(ConfigError, match=key):
            speed_options({**rt, **bad})


def test_speed_options_are_one_frozen_object_built_from_the_runtime_node() -> None:
    """train_many's speed options are asc.training.speed.SpeedOptions, built once per job from ``runtime:``: the config's
    defaults are the dataclass's, a built object cannot change, and the exclusive pair is refused."""
    import dataclasses

    from config_fixtures import composed

    from asc.training.speed import SpeedOptions

    rt = composed()["runtime"]
    speed = SpeedOptions.of_runtime(rt, "cpu")
    assert speed == SpeedOptions(device="cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        speed.fuse = False  # type: ignore[misc]
    changed = SpeedOptions.of_runtime(
        {**rt, "fuse": False, "cuda_graphs": False, "eval_batch_size": 8}, "cpu"
    )
    assert (changed.fuse, changed.graphs, changed.eval_batch_size) == (False, False, 8)
    with pytest.raises(ValueError, match="exclusive"):
        SpeedOptions(graphs=True, compile=True)


def test_precision_mode_sets_and_restores_the_cudnn_and_autocast_flags() -> None:
    before = torch.backends.cudnn.benchmark
    with asc_device.precision_mode("bf16", torch.device("cpu"), cudnn_benchmark=not before):
        assert torch.backends.cudnn.benchmark is not before
        assert (
            torch.is_autocast_enabled("cpu") and not torch.is_autocast_cache_enabled()
        )  # see precision_mode
    assert torch.backends.cudnn.benchmark is before
