"""The DCASE 2024/2025 recipe (asc.training.recipes): AdamW with a warm-up + cosine schedule, the last epoch kept, trained
as torch.optim.AdamW + the baselines' schedule would, fused or alone."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from asc.nets.model import build_model
from asc.training.recipes import lr_factor
from asc.training.train import Recipe, Run, train_many

# 20 frames (pools to match, as tests/test_distill.py): float64 convolutions have no fast CPU kernels, and what is
# compared (optimizer, schedule, decay, selection) does not depend on the clip's length
SPEC = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]], "dropout": 0.0}
# Warm-up shorter than the run so that both phases are trained through; a large lr and weight decay so that a
# wrong schedule or a missing decay moves the weights well beyond the tolerance.
ADAMW = Recipe(
    epochs=3,
    batch_size=8,
    lr=5e-3,
    adam_eps=1e-8,
    select_after=0,
    optimizer="adamw",
    weight_decay=0.05,
    schedule="cosine",
    warmup_steps=4,
    select="last",
)


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 10, (40,), generator=g)
    x = torch.randn(40, 40, 20, generator=g, dtype=torch.float64) + y[:, None, None] * 0.1
    return {"train": (x, y), "val": (torch.randn(12, 40, 20, dtype=torch.float64), y[:12])}


def net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(SPEC).double()


def test_the_schedule_is_linear_warm_up_then_half_a_cosine_to_zero() -> None:
    at = lambda s: lr_factor(s, warmup_steps=200, total_steps=1000, schedule="cosine")  # noqa: E731
    assert [at(0), at(100), at(200), at(600), at(1000)] == pytest.approx([0, 0.5, 1, 0.5, 0])
    assert at(400) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
    constant = lambda s: lr_factor(s, warmup_steps=0, total_steps=10, schedule="constant")  # noqa: E731
    assert [constant(0), constant(9), constant(50)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="schedule='step'"):
        lr_factor(0, warmup_steps=0, total_steps=1, schedule="step")


def test_one_run_is_torch_adamw_with_the_baselines_scheduler(data: dict, tmp_path: Path) -> None:
    """M = 1 equals a textbook loop: torch.optim.AdamW, a LambdaLR of the baselines' warm-up + cosine stepped per
    batch over epochs × batches steps (the last short batch included), float64."""
    x, y = data["train"]
    idx = torch.arange(3, 40)  # 37 clips at batch 8: 5 steps per epoch, the last of 5 clips
    r = Run(net(0), idx, seed=2, workdir=tmp_path, recipe=ADAMW)
    h = train_many([r], (x, y), data["val"], progress=False)[0]
    ref = net(0).train()
    opt = torch.optim.AdamW(
        ref.parameters(), lr=ADAMW.lr, eps=ADAMW.adam_eps, weight_decay=ADAMW.weight_decay
    )
    total = ADAMW.epochs * 5
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, warmup_steps=ADAMW.warmup_steps, total_steps=total, schedule="cosine")
    )
    shuffle = torch.Generator().manual_seed(2)
    for _ in range(ADAMW.epochs):
        order = idx[torch.randperm(len(idx), generator=shuffle)]
        for i in range(0, len(idx), ADAMW.batch_size):
            b = order[i : i + ADAMW.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(ref(x[b]), y[b]).backward()
            opt.step()
            sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-18)  # the cosine ended at the last step
    for name, value in ref.state_dict().items():
        torch.testing.assert_close(r.model.state_dict()[name], value, rtol=1e-7, atol=1e-8, msg=name)
    assert h["best_epoch"] == ADAMW.epochs  # select: last


def test_without_decay_the_fused_step_is_not_adamw(data: dict, tmp_path: Path) -> None:
    """The test above can fail: the same loop without weight decay ends elsewhere."""
    a, b = (Run(net(0), torch.arange(40), 1, tmp_path / n, ADAMW) for n in "ab")
    b.recipe = replace(ADAMW, weight_decay=0.0)
    train_many([a], data["train"], data["val"], progress=False)
    train_many([b], data["train"], data["val"], progress=False)
    diff = (a.model.state_dict()["features.0.weight"] - b.model.state_dict()["features.0.weight"]).abs().max()
    assert diff > 1e-5


def test_fused_schedules_equal_each_run_alone(data: dict, tmp_path: Path) -> None:
    """Runs of different subset sizes (so different total steps: each its own cosine) and recipes fused in one
    pass end where each ends alone, with the ragged steps of short subsets."""

    def runs(root: Path) -> list[Run]:
        sizes = (40, 19, 11)
        recipes = (
            ADAMW,
            replace(ADAMW, warmup_steps=0, weight_decay=0.0, optimizer="adam"),
            replace(ADAMW, lr=1e-3),
        )
        return [
            Run(
                net(10 + i),
                torch.randperm(40, generator=torch.Generator().manual_seed(i))[:n],
                7 + i,
                root / str(i),
                rc,
            )
            for i, (n, rc) in enumerate(zip(sizes, recipes, strict=True))
        ]

    together, alone = runs(tmp_path / "f"), runs(tmp_path / "a")
    train_many(together, data["train"], data["val"], progress=False, group_size=8)
    train_many(alone, data["train"], data["val"], fuse=False, progress=False)
    for rf, ra in zip(together, alone, strict=True):
        for name, value in rf.model.state_dict().items():
            torch.testing.assert_close(value, ra.model.state_dict()[name], rtol=1e-9, atol=1e-9, msg=name)


def test_select_last_keeps_the_last_epoch_whatever_the_selection_split_says(
    data: dict, tmp_path: Path
) -> None:
    recipe = replace(ADAMW, epochs=4)
    r = Run(net(3), torch.arange(40), 0, tmp_path, recipe)
    h = train_many([r], data["train"], data["val"], progress=False)[0]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["best_state"] is None and h["best_epoch"] == 4 == last["epoch"]
    for name, value in r.model.state_dict().items():
        assert torch.equal(value, last["model"][name]), name


# The published configuration, read from the baselines' repositories (argparse defaults and configure_optimizers):
# CPJKU/dcase2025_task1_baseline at 87a5f8c (train_base.py: the general model; train_device_specific.py: the
# per-device models) and CPJKU/dcase2024_task1_baseline at 9948d19 (run_training.py: the same general recipe).
# torch.optim.AdamW's default eps (1e-8) applies: neither passes one.
PUBLISHED_GENERAL = {
    "optimizer": "adamw",
    "lr": 0.005,
    "weight_decay": 0.0001,
    "schedule": "cosine",
    "warmup_steps": 2000,
    "epochs": 150,
    "batch_size": 256,
    "adam_eps": 1e-8,
    "select": "last",
    "eval_precision": "fp16",
}
PUBLISHED_PER_DEVICE = {
    "optimizer": "adamw",
    "lr": 0.0005,
    "weight_decay": 0.0001,
    "schedule": "cosine",
    "warmup_steps": 200,
    "epochs": 50,
    "batch_size": 256,
    "adam_eps": 1e-8,
    "eval_precision": "fp16",
}


def test_experiment_dcase2025_trains_with_the_baselines_published_recipes() -> None:
    from config_fixtures import composed

    from asc.pipeline.validate import validate
    from asc.training.recipes import selected_on

    cfg = composed("experiment=dcase2025")
    validate(cfg)
    for node in ("train", "finetune"):
        assert {k: cfg[node][k] for k in PUBLISHED_GENERAL} == PUBLISHED_GENERAL, node
        assert selected_on(cfg[node]) == "last epoch", node
    assert {k: cfg["perdevice"][k] for k in PUBLISHED_PER_DEVICE} == PUBLISHED_PER_DEVICE
    assert cfg["train"]["split"] == "split25" and cfg["finetune"]["train_on"] == "fold1_train"
    assert cfg["protocol"]["allow_test_selection"] is False  # nothing of it is selected on the test split


def test_the_new_recipe_keys_enter_only_the_keys_of_artifacts_they_change() -> None:
    from config_fixtures import composed

    from asc.pipeline.plan import make_plan

    def keys(*overrides: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for step in make_plan(composed(*overrides)):
            out.setdefault(step.stage, set()).add(step.key)
        return out

    base, decay = keys(), keys("finetune.optimizer=adamw", "finetune.weight_decay=0.01")
    assert base["train"] == decay["train"] and base["prune"] == decay["prune"]
    assert not base["finetune"] & decay["finetune"]
    assert keys("train.select=last")["train"] != base["train"]
    assert keys("train.eval_precision=fp16")["train"] != base["train"]
    # written at its default, a new key leaves the key as it was
    assert keys("train.warmup_steps=0", "finetune.schedule=constant") == base


def test_selection_on_the_test_split_needs_the_explicit_opt_in() -> None:
    from config_fixtures import composed

    from asc.core.errors import ConfigError
    from asc.pipeline.validate import validate

    validate(composed("protocol=authors"))  # the authors' code selects on the test split: allowed, by name
    assert composed("protocol=authors")["finetune"]["select_on"] == "test"
    validate(composed("train.select_on=test", "protocol.allow_test_selection=true"))
    validate(composed("train.select_on=test", "train.select=last"))  # monitored only: nothing is selected
    with pytest.raises(ConfigError, match=r"^train.select_on=test with train.select=best"):
        validate(composed("train.select_on=test"))


def test_the_schedule_through_emulated_cuda_graphs_is_bit_for_bit_eager(data: dict, tmp_path: Path) -> None:
    """The scheduled learning rate and the decay are computed on the device from each model's step count, so a
    replayed graph (emulated on the CPU, as tests/test_gpu_paths.py does) steps exactly as eager code."""

    def runs(root: Path) -> list[Run]:
        return [Run(net(20 + i), torch.arange(40 - 13 * i), 3 + i, root / str(i), ADAMW) for i in range(2)]

    graphed, eager = runs(tmp_path / "g"), runs(tmp_path / "e")
    train_many(graphed, data["train"], data["val"], progress=False, group_size=8, graphs=True)
    train_many(eager, data["train"], data["val"], progress=False, group_size=8, graphs=False)
    for rg, re in zip(graphed, eager, strict=True):
        for name, value in rg.model.state_dict().items():
            assert torch.equal(value, re.model.state_dict()[name]), name


def test_the_zoos_one_by_one_trainer_applies_the_same_recipe(data: dict, tmp_path: Path) -> None:
    """asc/training/train_plain.py (networks fused training does not cover, e.g. model=dcase2024) trains with the same
    AdamW, schedule and last-epoch rule: on a network both can train, both end at the same weights."""
    from asc.training.train_plain import train_one

    fused_run = Run(net(4), torch.arange(3, 40), 2, tmp_path / "f", ADAMW)
    plain_run = Run(net(4), torch.arange(3, 40), 2, tmp_path / "p", ADAMW)
    train_many([fused_run], data["train"], data["val"], progress=False)
    h = train_one(plain_run, data["train"], data["val"])
    assert h["best_epoch"] == ADAMW.epochs
    for name, value in fused_run.model.state_dict().items():
        torch.testing.assert_close(plain_run.model.state_dict()[name], value, rtol=1e-7, atol=1e-8, msg=name)
