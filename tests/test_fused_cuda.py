"""The fused trainer on a GPU: same results as on the CPU, and every speed option runs (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from asc.evaluate import predict_many
from asc.model import build_model
from asc.train import Recipe, Run, train_many

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
    masks differently (asc.fused_ops.keep_mask), as PyTorch's own dropout does."""
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
        {"compile": True},
        {"channels_last": False},
    ],
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
