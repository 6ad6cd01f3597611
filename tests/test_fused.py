"""Horizontal fusion: M networks in one pass give each network what it gets alone (asc.training.fused, asc.training.train)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from asc.nets.model import build_model
from asc.training import fused, fused_ops
from asc.training.train import Recipe, Run, train_many

# A narrow network on 20 frames (pools scaled to match): the equivalences hold for any size; this one is fast
# (float64 convolutions have no fast CPU kernels: 100 frames cost 5× the CPU for the same checks).
SPEC = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]]}
RECIPE = Recipe(epochs=4, batch_size=8, lr=1e-3, adam_eps=1e-7, select_after=0)


def models(n: int, spec: dict | None = None) -> list[torch.nn.Module]:
    out = []
    for i in range(n):
        torch.manual_seed(100 + i)
        out.append(build_model(spec or SPEC))
    return out


def test_adam_update_matches_torch_optim_adam_with_per_model_step_counts() -> None:
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 5, 4, generator=g)
    refs = [torch.nn.Parameter(p0[i].clone()) for i in range(3)]
    lrs, epss = [1e-3, 3e-4, 1e-2], [1e-7, 1e-8, 1e-3]
    opts = [torch.optim.Adam([p], lr=lr, eps=e) for p, lr, e in zip(refs, lrs, epss, strict=True)]
    param, m1, m2 = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    steps = torch.zeros(3, dtype=torch.int64)
    lr, eps = torch.tensor(lrs, dtype=torch.float64), torch.tensor(epss)
    for k in range(6):
        sel = torch.tensor(
            [0, 1, 2] if k < 2 else [0, 2] if k < 4 else [0]
        )  # models drop out, as in an epoch
        grad = torch.randn(len(sel), 5, 4, generator=g) * 10.0**-k
        a, b = m1[sel], m2[sel]
        new = fused_ops.adam_update(param[sel], grad, a, b, steps=steps[sel] + 1, lr=lr[sel], eps=eps[sel])
        param[sel], m1[sel], m2[sel], steps[sel] = new, a, b, steps[sel] + 1
        for j, i in enumerate(sel.tolist()):
            refs[i].grad = grad[j].clone()
            opts[i].step()
    for i in range(3):  # same formula, same float32 casts: identical bits
        assert torch.equal(param[i], refs[i].detach()), i
        state = opts[i].state[refs[i]]
        assert torch.equal(m1[i], state["exp_avg"]) and torch.equal(m2[i], state["exp_avg_sq"])
        assert int(steps[i]) == int(state["step"])


def test_dropout_masks_do_not_depend_on_batch_mates() -> None:
    seeds = torch.tensor([1, 2, 3, 2**40 + 1])
    steps = torch.tensor([0, 7, 7, 0])
    keys = fused_ops.dropout_keys(seeds, steps, layer=1)
    together = fused_ops.keep_mask(keys, batch=4, n=500, p=0.3)
    for g in range(4):
        alone = fused_ops.keep_mask(
            fused_ops.dropout_keys(seeds[g : g + 1], steps[g : g + 1], 1), 4, 500, 0.3
        )
        assert torch.equal(together[:, g], alone[:, 0])
    kept = together > 0
    assert abs(kept.float().mean().item() - 0.7) < 0.02
    assert torch.allclose(together[kept], torch.tensor(1 / 0.7))
    assert not torch.equal(together[:, 0], together[:, 3])  # high bits of the seed matter
    other_step = fused_ops.keep_mask(fused_ops.dropout_keys(seeds, steps + 1, 1), 4, 500, 0.3)
    other_layer = fused_ops.keep_mask(fused_ops.dropout_keys(seeds, steps, 2), 4, 500, 0.3)
    assert not torch.equal(together, other_step) and not torch.equal(together, other_layer)


def test_hashed_uniforms_the_cuda_path_uses_are_per_model_and_uniform() -> None:
    keys = fused_ops.dropout_keys(torch.tensor([1, 2, 3]), torch.tensor([5, 5, 0]), layer=0)
    together = fused_ops.hash_uniform(keys, batch=8, n=1000)
    for g in range(3):
        assert torch.equal(together[:, g], fused_ops.hash_uniform(keys[g : g + 1], 8, 1000)[:, 0])
    assert 0 <= together.min() and together.max() < 1
    counts = torch.histc(together, bins=10, min=0, max=1) / together.numel()
    assert (counts - 0.1).abs().max() < 0.01  # 24,000 draws: a biased hash would show


def test_fused_forward_equals_each_model() -> None:
    nets = models(3)
    stack = fused.FusedStack(nets, "cpu")
    x = torch.randn(5, 40, 20)
    logits = stack.logits([0, 1, 2], x)
    sub = stack.logits([2, 0], x)
    for g, net in enumerate(nets):
        ref = net.eval()(x)
        torch.testing.assert_close(logits[:, g], ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sub[:, 0], logits[:, 2], rtol=0, atol=0)


def test_unfusable_models_are_rejected() -> None:
    with pytest.raises(ValueError, match="identical layer shapes"):
        fused.FusedStack([build_model(SPEC), build_model({"widths": [4, 4, 6]})], "cpu")


# The training equivalence tests run in float64 (the same code path: every op is dtype-generic). In float32
# the grouped and plain kernels sum in different orders (~1e-7 relative), and the training dynamics amplify that
# chaotically: a max-pool or ReLU decision on a near-tie flips, and Adam (eps 1e-7) turns float noise on a
# near-zero gradient into an lr-sized step (conv biases before BN have an exactly zero true gradient). Measured
# after 24 steps: up to 3e-3 absolute in float32, ~1e-12 in float64. A float32 tolerance wide enough would hide
# real bugs (a wrong subset, mask or step count moves weights by ~lr = 1e-3 per step); 1e-9 in float64 cannot.
TOL = {"rtol": 1e-9, "atol": 1e-9}


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    y = torch.randint(0, 10, (48,), generator=g)
    x = (
        torch.randn(48, 40, 20, generator=g, dtype=torch.float64) + y[:, None, None] * 0.1
    )  # a little learnable
    val = torch.randn(16, 40, 20, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g)
    return {"train": (x, y), "val": val}


def runs(root: Path, recipe: Recipe = RECIPE) -> list[Run]:
    """Fractions 48, 21 and 13 of 48 clips at batch 8: 6, 3 and 2 steps per epoch, two of them ending on a
    short batch (5 of 8), so most steps have a ragged set of active models."""
    out = []
    for i, (n, net) in enumerate(zip((48, 21, 13), models(3), strict=True)):
        idx = torch.randperm(48, generator=torch.Generator().manual_seed(i))[:n]
        out.append(
            Run(net.double(), idx, seed=10 + i, workdir=root / f"run{i}", recipe=recipe, label=f"run{i}")
        )
    return out


@pytest.fixture(scope="module")
def fused_full(data: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Run], list[dict]]:
    """The three runs trained fused (grouped convs, group_size 8) to the end, and their histories: the reference of
    both the equivalence test and the kill-and-resume test (the same call; trained once, read only)."""
    together = runs(tmp_path_factory.mktemp("fused"))
    return together, train_many(together, data["train"], data["val"], progress=False, group_size=8)


def test_fused_training_equals_training_each_alone(data: dict, fused_full: tuple, tmp_path: Path) -> None:
    (together, h_f), alone = fused_full, runs(tmp_path / "alone")
    h_a = train_many(alone, data["train"], data["val"], fuse=False, progress=False)
    for rf, ra, hf, ha in zip(together, alone, h_f, h_a, strict=True):
        last_f = torch.load(rf.workdir / "last.pt", weights_only=True)
        last_a = torch.load(ra.workdir / "last.pt", weights_only=True)
        for name, value in last_f["model"].items():  # weights, BN running statistics and batch counters
            torch.testing.assert_close(value, last_a["model"][name], **TOL, msg=name)
        opt_f, opt_a = last_f["optimizer"], last_a["optimizer"]
        assert opt_f["step"] == opt_a["step"] == 4 * -(-len(rf.train_idx) // 8)
        for moment in ("exp_avg", "exp_avg_sq"):
            for name, value in opt_f[moment].items():
                torch.testing.assert_close(value, opt_a[moment][name], rtol=1e-7, atol=1e-12, msg=name)
        assert [e["loss"] for e in hf["history"]] == pytest.approx(
            [e["loss"] for e in ha["history"]], rel=1e-9
        )
        assert [e["select_acc"] for e in hf["history"]] == [e["select_acc"] for e in ha["history"]]
        assert hf["best_epoch"] == ha["best_epoch"] and hf["epochs"] == 4
    for run, before in zip(together, models(3), strict=True):  # and every network did train
        assert not torch.allclose(
            run.model.state_dict()["features.0.weight"].float(), before.features[0].weight
        )


def test_one_fused_float32_step_matches_each_alone() -> None:
    """The float32 path itself (the default), one step: nothing has had time to amplify, but a max-pool near-tie
    decided differently by the reordered sums can still move a handful of weights by ~1e-6 (measured: 6 of 46k)."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(8, 3, 40, 500, generator=g), torch.randint(0, 10, (8, 3), generator=g)
    lr, eps = torch.full((3,), 1e-3, dtype=torch.float64), torch.full((3,), 1e-3)
    seeds = torch.arange(3)
    full = {"widths": [4, 4, 8]}  # the real input size: the measurement above was made on it
    stack = fused.FusedStack(models(3, full), "cpu")
    stack.train_step([0, 1, 2], x, y, lr=lr, eps=eps, seeds=seeds)
    for i, net in enumerate(models(3, full)):
        alone = fused.FusedStack([net], "cpu")
        alone.train_step(
            [0],
            x[:, i : i + 1],
            y[:, i : i + 1],
            lr=lr[i : i + 1],
            eps=eps[i : i + 1],
            seeds=seeds[i : i + 1],
        )
        for name, value in alone.state_dict(0).items():
            torch.testing.assert_close(stack.state_dict(i)[name], value, rtol=1e-5, atol=1e-5, msg=name)


def test_killed_fused_call_resumes_to_the_same_weights(data: dict, fused_full: tuple, tmp_path: Path) -> None:
    full = fused_full[0]  # the same runs trained fused without a kill

    def kill(m: int, epoch: int) -> None:  # after run1 saved epoch 2: run0 has 2 epochs, run2 only 1
        if (m, epoch) == (1, 2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_many(
            runs(tmp_path / "again"),
            data["train"],
            data["val"],
            progress=False,
            group_size=8,
            on_epoch_end=kill,
        )
    epochs = [
        torch.load(tmp_path / "again" / f"run{i}" / "last.pt", weights_only=True)["epoch"] for i in range(3)
    ]
    assert epochs == [2, 2, 1]
    resumed = runs(tmp_path / "again")  # fresh initial weights: the checkpoints must replace them
    histories = train_many(resumed, data["train"], data["val"], progress=False, group_size=8)
    # run2 resumed one epoch behind its mates: it shared their passes, then trained its last epoch alone
    assert [e["fused"] for e in histories[2]["history"]] == [3, 3, 3, 1]
    for a, b, h in zip(full, resumed, histories, strict=True):
        assert [e["epoch"] for e in h["history"]] == [1, 2, 3, 4]
        for name, value in a.model.state_dict().items():  # run2 met other batch-mates in epoch 2: float64 TOL
            torch.testing.assert_close(b.model.state_dict()[name], value, **TOL, msg=name)


def test_cpu_default_one_model_per_pass_is_bit_for_bit_alone(data: dict, tmp_path: Path) -> None:
    """On the CPU train_many gives each model its own pass (auto_group_size): the fused schedule, ragged steps
    and shared evaluation then change nothing, not even float rounding."""
    recipe = Recipe(epochs=2, batch_size=8, lr=1e-3, adam_eps=1e-7, select_after=0)
    together, alone = runs(tmp_path / "fused", recipe), runs(tmp_path / "alone", recipe)
    h_f = train_many(together, data["train"], data["val"], progress=False)
    h_a = train_many(alone, data["train"], data["val"], fuse=False, progress=False)
    for a, b, ha, hb in zip(together, alone, h_f, h_a, strict=True):
        for name, value in a.model.state_dict().items():
            assert torch.equal(value, b.model.state_dict()[name]), name
        assert [e["loss"] for e in ha["history"]] == [e["loss"] for e in hb["history"]]
