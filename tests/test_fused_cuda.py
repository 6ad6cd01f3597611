"""The fused trainer on a GPU: same results as on the CPU, and every speed option runs (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from asc.nets.model import build_model
from asc.training.evaluate import predict_many
from asc.training.train import Recipe, Run, train_many

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
RECIPE = Recipe(epochs=3, batch_size=8, lr=1e-3, adam_eps=1e-7, select_after=0)


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 10, (40,), generator=g)
    x = torch.randn(40, 40, 500, generator=g, dtype=torch.float64) + y[:, None, None] * 0.1
    return {"train": (x, y), "val": (torch.randn(16, 40, 500, generator=g, dtype=torch.float64), y[:16])}


def runs(root: Path, dtype: torch.dtype, dropout: float = 0.3) -> list[Run]:
    out = []
    for i, n in enumerate((40, 19, 11)):  # ragged: 5, 3 and 2 steps, two short last batches
        torch.manual_seed(i)
        net = build_model({"widths": [4, 4, 8], "dropout": dropout}).to(dtype)
        out.append(
            Run(net, torch.randperm(40)[:n], seed=i, workdir=root / f"r{i}", recipe=RECIPE, label=f"r{i}")
        )
    return out


def test_fused_cuda_matches_cpu(data: dict, tmp_path: Path) -> None:
    """float64 on both (see tests/test_fused.py for why float32 dynamics need it); cuDNN and the CPU kernels
    sum in different orders, so 1e-7 rather than the 1e-9 of CPU-vs-CPU. Dropout off: CPU and CUDA draw their
    masks differently (asc.training.fused_ops.keep_mask), as PyTorch's own dropout does."""
    cpu, gpu = runs(tmp_path / "cpu", torch.float64, 0.0), runs(tmp_path / "gpu", torch.float64, 0.0)
    h_cpu = train_many(cpu, data["train"], data["val"], device="cpu", progress=False)
    h_gpu = train_many(gpu, data["train"], data["val"], device="cuda", progress=False)
    for a, b, ha, hb in zip(cpu, gpu, h_cpu, h_gpu, strict=True):
        assert next(b.model.parameters()).device.type == "cpu"
        for name, value in a.model.state_dict().items():
            torch.testing.assert_close(b.model.state_dict()[name], value, rtol=1e-7, atol=1e-7, msg=name)
        assert [e["select_acc"] for e in ha["history"]] == [e["select_acc"] for e in hb["history"]]


@pytest.mark.parametrize(
    "options",
    [
        {"precision": "fp32"},
        {"precision": "tf32"},
        {"precision": "bf16"},
        {"precision": "bf16", "graphs": True},
        {"compile": True},
        {"compile": "reduce-overhead"},
        {"channels_last": False},
    ],
    ids=["fp32", "tf32", "bf16", "bf16-graphs", "compile", "compile-reduce-overhead", "nchw"],
)
def test_every_speed_option_trains(data: dict, tmp_path: Path, options: dict) -> None:
    x, y = data["train"][0].float(), data["train"][1]
    val = data["val"][0].float(), data["val"][1]
    rs = runs(tmp_path, torch.float32)
    histories = train_many(rs, (x, y), val, device="cuda", progress=False, **options)
    for h in histories:
        assert len(h["history"]) == 3 and all(torch.isfinite(torch.tensor(e["loss"])) for e in h["history"])
    cpu_probs = predict_many([r.model for r in rs], val[0], batch_size=8, device="cpu")
    gpu_probs = predict_many([r.model for r in rs], val[0], batch_size=8, device="cuda")
    for p, q in zip(cpu_probs, gpu_probs, strict=True):
        assert abs(p - q).max() < 1e-3  # float32 inference, TF32 off in predict_many


@pytest.mark.parametrize(
    "options",
    [
        {"graphs": True},
        {"resident": False},
        {"formulation": "split"},
        {"formulation": "im2col"},
        {"formulation": "auto"},
        {"channels_last": False, "graphs": True},
        {"cudnn_benchmark": True, "graphs": True, "formulation": "split"},
    ],
    ids=["graphs", "host-features", "split", "im2col", "auto", "nchw-graphs", "benchmark-graphs-split"],
)
def test_each_gpu_path_trains_as_the_plain_one_and_as_the_cpu(
    data: dict, reference: tuple[list, list], tmp_path: Path, options: dict
) -> None:
    """Dropout on: the CPU draws the CUDA masks with dropout_rng="hash". float64 (see above): 1e-7."""
    got = runs(tmp_path, torch.float64)
    train_many(got, data["train"], data["val"], device="cuda", progress=False, **{**PLAIN, **options})
    for ref, cpu, run in zip(*reference, got, strict=True):
        for name, value in ref.items():
            torch.testing.assert_close(run.model.state_dict()[name], value, rtol=1e-7, atol=1e-7, msg=name)
            torch.testing.assert_close(cpu[name], value, rtol=1e-7, atol=1e-7, msg=name)


PLAIN = {"graphs": False, "resident": True, "formulation": "grouped"}


@pytest.fixture(scope="module")
def reference(data: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list]:
    """The plain CUDA path's and the CPU's final weights (dropout on, float64)."""
    ref, cpu = (
        runs(tmp_path_factory.mktemp("ref"), torch.float64),
        runs(tmp_path_factory.mktemp("cpu"), torch.float64),
    )
    train_many(ref, data["train"], data["val"], device="cuda", progress=False, **PLAIN)
    train_many(
        cpu, data["train"], data["val"], device="cpu", progress=False, group_size=8, dropout_rng="hash"
    )
    return [r.model.state_dict() for r in ref], [r.model.state_dict() for r in cpu]
