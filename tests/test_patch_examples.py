"""train.examples=patches (asc/training/patch_examples.py): patches cut as VGGish_Net cuts a clip, one label per patch,
clip scores as the mean patch softmax, the refusal for networks without a patch geometry; and the one set of
plain-trainer options (asc/pipeline/stages/train.py train_runs) that train, finetune, perdevice and the iterative
schedule's short fine-tunes share: bn_recalibration, sampling, precision, patches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.nets.families import FAMILIES
from asc.training import patch_examples as pe

VGGISH = FAMILIES["vggish_asc"]


def test_patches_are_cut_as_the_network_cuts_a_clip() -> None:
    x = torch.randn(3, 64, 997)  # vggish64: 997 frames a 10-s clip
    assert pe.geometry({}, VGGISH) == (96, 48)
    assert pe.geometry({"patch_frames": 32, "patch_hop": 16}, VGGISH) == (32, 16)
    assert pe.n_patches(997, 96, 48) == 19  # the authors' 19 patches per clip
    patches = pe.cut(x, 96, 48)
    assert patches.shape == (3 * 19, 64, 96)
    for i, p in ((0, 0), (1, 5), (2, 18)):
        assert torch.equal(patches[i * 19 + p], x[i, :, p * 48 : p * 48 + 96])
    view = pe.PatchView(x, 96, 48)
    assert len(view) == 57 and view.shape == (57, 64, 96)
    idx = torch.tensor([56, 0, 20, 37])
    assert torch.equal(view[idx], patches[idx])
    with pytest.raises(ValueError, match="no 96-frame patch"):
        pe.PatchView(torch.zeros(1, 64, 90), 96, 48)


def test_each_patch_has_its_clips_label_and_positions() -> None:
    assert pe.patch_labels(torch.tensor([3, 7]), 3).tolist() == [3, 3, 3, 7, 7, 7]
    tags = torch.tensor([[1, 0], [0, 1]])
    assert pe.patch_labels(tags, 2).tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert pe.patch_positions(torch.tensor([2, 0]), 3).tolist() == [6, 7, 8, 0, 1, 2]
    run = SimpleNamespace(train_idx=torch.tensor([1]), teacher={"logits": torch.eye(2), "alpha": 0.5})
    (view, y), [(positions, teacher)] = pe.training_data(
        torch.zeros(2, 4, 10), torch.tensor([0, 1]), [run], (4, 3)
    )
    assert view.per_clip == 3 and y.tolist() == [0, 0, 0, 1, 1, 1] and positions.tolist() == [3, 4, 5]
    assert teacher["logits"].tolist() == [[1, 0]] * 3 + [[0, 1]] * 3 and teacher["alpha"] == 0.5


def test_clip_score_is_the_mean_patch_softmax_the_network_outputs() -> None:
    """The authors' decision (argmax of the summed patch softmaxes) is the argmax of VGGishASC's clip output."""
    from asc.nets.vggish_asc import VGGishASC

    torch.manual_seed(0)
    net = VGGishASC(widths=(4, 4, 8, 8, 8, 8), dense=(16, 8), n_classes=5).eval()
    x = torch.randn(2, 64, 300)
    per_clip = pe.n_patches(300, 96, 48)
    with torch.no_grad():
        probs = net.patch_logits(pe.cut(x, 96, 48)[:, None].transpose(2, 3)).softmax(-1)
        clip = pe.clip_probabilities(probs, per_clip)
        out = net(x)
    assert clip.shape == (2, 5)
    assert torch.allclose(out.exp(), clip, atol=1e-6)
    summed = probs.reshape(2, per_clip, 5).sum(1)
    assert torch.equal(summed.argmax(1), out.argmax(1))


def test_refused_in_one_line_without_a_patch_geometry() -> None:
    for fam in (FAMILIES["dcase21"], FAMILIES["panns_cnn14"]):
        with pytest.raises(ConfigError, match="finetune.examples=patches") as err:
            pe.check("finetune", {"examples": "patches"}, fam)
        assert "\n" not in str(err.value) and "examples=clips" in str(err.value)
    with pytest.raises(ConfigError, match="train.examples='patch'"):
        pe.check("train", {"examples": "patch"}, VGGISH)
    from asc.training.recipes import (
        check_recipe,  # validation, before any stage: a bad value for every network
    )

    with pytest.raises(ConfigError, match="finetune.examples"):
        check_recipe("finetune", composed("train.examples=patch")["finetune"], False)
    pe.check("train", {"examples": "patches"}, VGGISH)
    pe.check("train", {}, FAMILIES["dcase21"])


def test_refused_at_planning_on_the_demo(tmp_path) -> None:
    from asc.app.cli import run

    cfg = composed(
        "experiment=demo",
        "train.examples=patches",
        "dry_run=true",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'res'}",
    )
    with pytest.raises(ConfigError, match="train.examples=patches: model=dcase21") as err:
        run(cfg)
    assert "\n" not in str(err.value)


def test_keyed_only_when_patches() -> None:
    from asc.pipeline.stages.train import recipe

    cfg = composed("dataset=demo16k", "model=vggish_asc")
    assert "examples" not in recipe(cfg["train"]) and "examples" not in recipe(cfg["finetune"])
    cfg = composed("dataset=demo16k", "model=vggish_asc", "train.examples=patches")
    assert recipe(cfg["train"])["examples"] == recipe(cfg["finetune"])["examples"] == "patches"
    assert cfg["perdevice"]["examples"] == "patches"


def _ctx(**model: object) -> SimpleNamespace:
    return SimpleNamespace(
        cfg={"model": {"name": "vggish_asc", **model}},
        train_options=lambda precision: {"precision": precision, "task": "scenes"},
    )


def test_train_runs_gives_the_plain_trainer_patches_and_recalibration(monkeypatch) -> None:
    """train_runs: the one place train, finetune, perdevice and the schedule's fine-tunes train."""
    import asc.training.train_plain
    from asc.pipeline.stages.train import train_runs

    seen = {}

    def trainer(runs, train, select, **options):
        seen.update(idx=runs[0].train_idx.tolist(), x=train[0], y=train[1].tolist(), options=options)
        return [{"epochs": 1}]

    monkeypatch.setattr(asc.training.train_plain, "train_each", trainer)
    pool = SimpleNamespace(x=torch.zeros(3, 64, 200), y=torch.tensor([0, 1, 2]))
    run = SimpleNamespace(train_idx=torch.tensor([2, 0]), teacher=None)
    stage = {"precision": "fp32", "bn_recalibration": 2, "examples": "patches"}
    # train_examples counts what was trained on: 2 clips × 3 patches (a results row's column)
    assert train_runs([run], pool, pool, ctx=_ctx(), stage_cfg=stage) == [{"epochs": 1, "train_examples": 6}]
    assert seen["options"] == {"precision": "fp32", "task": "scenes", "bn_recalibration": 2}
    assert isinstance(seen["x"], pe.PatchView) and seen["x"].per_clip == 3  # (200 - 96) // 48 + 1
    assert seen["idx"] == [6, 7, 8, 0, 1, 2] and seen["y"] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert run.train_idx.tolist() == [2, 0]  # the run's clip positions are given back
    assert (
        train_runs([run], pool, pool, ctx=_ctx(), stage_cfg={"precision": "fp32"})[0]["train_examples"] == 2
    )
    assert (
        seen["x"] is pool.x
        and seen["idx"] == [2, 0]
        and seen["options"] == {"precision": "fp32", "task": "scenes"}
    )


def test_schedule_fine_tunes_apply_the_keyed_recalibration(monkeypatch, tmp_path) -> None:
    """Step s ≥ 2 of an iterative schedule is keyed by finetune.bn_recalibration (its recipe): its short
    fine-tuning now trains with it (and with finetune.examples), through train_runs."""
    import asc.data.fractions
    import asc.pipeline.stages.train
    from asc.pipeline.stages.prune_schedule import short_finetune
    from asc.pipeline.stages.train import recipe

    f = composed(
        "dataset=demo16k", "model=vggish_asc", "finetune.bn_recalibration=3", "train.examples=patches"
    )
    f = f["finetune"]
    tune = {**recipe(f), "train_on": f["train_on"], "fraction": 1.0, "seed": 0}
    assert tune["bn_recalibration"] == 3 and tune["examples"] == "patches"
    seen = {}

    def train_runs(runs, pool, select, *, ctx, stage_cfg):
        seen["options"] = asc.pipeline.stages.train.plain_options(ctx, stage_cfg)
        seen["examples"] = pe.examples(stage_cfg)
        return [{"epochs": 1, "train_seconds": 0.0, "train_examples": 2 * 3}]  # 2 clips' patches

    monkeypatch.setattr(asc.pipeline.stages.train, "train_runs", train_runs)
    monkeypatch.setattr(
        asc.data.fractions, "nested_fractions", lambda rows, shares, seed: {shares[0]: [0, 1]}
    )
    pool = SimpleNamespace(rows=None, x=None, y=None)
    splits = SimpleNamespace(pool=lambda name: pool, selection=lambda name: pool)
    ctx = _ctx()
    ctx.cfg["finetune"], ctx.splits = f, lambda step: splits
    step = SimpleNamespace(config={"schedule": {"finetune": tune}}, label="l1 step 2/2")
    _, summary = short_finetune(step, torch.nn.Linear(1, 1), ctx, tmp_path)
    assert seen["options"]["bn_recalibration"] == 3 and seen["examples"] == "patches"
    assert summary["train_examples"] == 6  # the patches trained on, not the 2 clips


def test_the_one_by_one_trainer_honours_sampling_precision_and_the_epoch_callback(monkeypatch) -> None:
    import asc.training.train_plain
    from asc.training.train import Recipe, Run

    orders, ends = [], []
    real = asc.training.train_plain.epoch_order

    def spy(sampling, labels, subset, generator):
        orders.append(sampling)
        return real(sampling, labels, subset, generator)

    monkeypatch.setattr(asc.training.train_plain, "epoch_order", spy)
    torch.manual_seed(0)
    x, y = torch.randn(12, 4, 6), torch.tensor([0] * 10 + [1] * 2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(24, 2))
    recipe = Recipe(epochs=2, batch_size=4, lr=1e-3, adam_eps=1e-7, select_after=0, sampling="balanced")
    run = Run(model, torch.arange(12), 0, None, recipe, "r")
    asc.training.train_plain.train_each(
        [run], (x, y), (x, y), precision="fp32", on_epoch_end=lambda i, e: ends.append((i, e))
    )
    assert orders == ["balanced", "balanced"] and ends == [(0, 1), (0, 2)]
    with pytest.raises(ValueError, match="precision='fp8'"):
        asc.training.train_plain.train_each([run], (x, y), (x, y), precision="fp8")


def test_the_dry_run_counts_the_patches_a_patch_trained_step_trains_on(tmp_path) -> None:
    """The dry run's ``examples`` column counts as a results row's ``train_examples`` does: 19 patches per clip."""
    from asc.pipeline.dryrun import format_plan
    from asc.pipeline.plan import make_plan

    paths = (f"paths.data={tmp_path}/d", f"paths.store={tmp_path}/s", f"paths.results={tmp_path}/r")

    def examples(*overrides: str) -> list[int]:
        cfg = composed("experiment=nystrom_vggish", "dataset=demo16k", *paths, *overrides)
        lines = format_plan(make_plan(cfg), cfg, upto="finetune").splitlines()
        return [
            int(line.split()[3].lstrip("~")) for line in lines if line.startswith(("train ", "finetune "))
        ]

    patches, clips = examples(), examples("train.examples=clips")
    assert patches == [19 * n for n in clips] and clips[0] > 0
