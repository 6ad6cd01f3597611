"""The disk each stage's check plans for is what the job's network takes as configured (asc/pipeline/stages/baseline.py):
a zoo network counted as built (on torch's meta device), not at its published size; a fine-tuned or per-device
network at its pruned widths where the criterion config says them; the checkpoint's rewrite counted once
(asc.core.disk.Need.transient). The slow comparison with written bytes is tests/test_cli.py."""

from __future__ import annotations

import pytest
from config_fixtures import composed

from asc.core.disk import model_artifact_bytes, rewrite_bytes
from asc.nets import family_of
from asc.pipeline.plan import by_stage, make_plan
from asc.pipeline.stages import baseline, finetune, perdevice, quantise, train

# the brief's tiny ResNet38: its published 73,783,247 parameters made the tiny demo plan 2.5 GiB "for baselines"
NARROW = ("model=panns_resnet38", "model.widths=[4,4,8,8]", "model.blocks=[1,1,1,1]", "model.head=16")
MIB = 1 << 20


def _stored(model: dict) -> int:
    from asc import nets

    return sum(t.numel() for t in nets.build(model).state_dict().values())


@pytest.mark.parametrize("stage", ["train", "finetune", "quantise"])
def test_a_zoo_networks_estimate_counts_the_configured_network(stage: str) -> None:
    cfg = composed(*NARROW)
    grouped = by_stage(make_plan(cfg))
    counted = _stored(cfg["model"])
    assert counted * 1000 < family_of(cfg["model"]).published_params
    if stage == "quantise":  # its ONNX files (fp32, fp16, int8) of each model step
        (step, need), *_ = quantise.check(grouped["finetune"][:1], cfg)
        assert need.bytes == quantise.FILES_BYTES + 7 * counted
        return
    module = {"train": train, "finetune": finetune}[stage]
    (step, need), *_ = module.check(grouped[stage], cfg)
    positions = baseline.training_positions(cfg, stage)  # the resume checkpoint's example indices
    assert 0 < positions < 1000
    assert need.bytes == model_artifact_bytes(counted, trains=True, positions=positions) < 2 * MIB
    assert need.transient == rewrite_bytes(counted, positions=positions)


def test_the_per_device_models_estimate_is_at_their_pruned_widths() -> None:
    """Each device model is its general model's pruned network fine-tuned again: one per device, at the pruned
    widths, and its checkpoint rewrite once (the device models train one after the other)."""
    cfg = composed("experiment=dcase_benchmark_demo", "runs.1.criteria=[l1]", "criteria.l1.ratio=0.5")
    params = baseline.parameters({**baseline.baseline_spec(cfg), "widths": [8, 8, 16]})
    ((step, need),) = perdevice.check(by_stage(make_plan(cfg))["perdevice"], cfg)
    positions = baseline.training_positions(cfg, "perdevice")
    assert need.bytes == len(perdevice.KNOWN_DEVICES) * model_artifact_bytes(
        params, trains=True, positions=positions
    )
    assert need.transient == rewrite_bytes(params, positions=positions)


# Criterion configs and the widths of the DCASE baseline [16, 16, 32] each prunes to
PRUNED_WIDTHS = [
    (("prune=l1", "prune.ratio=0.5"), [8, 8, 16]),
    (("prune=l2", "prune.ratio=0.5", "prune.layers=[C2]"), [16, 8, 32]),
    (("prune=authors_kept",), [11, 11, 22]),  # the given kept lists
    (("prune=cosine",), [16, 16, 32]),  # it decides its count: the unpruned width, an upper bound
]


@pytest.mark.parametrize(
    ("overrides", "widths"),
    PRUNED_WIDTHS,
)
def test_a_fine_tuned_networks_estimate_is_at_its_pruned_widths(overrides: tuple, widths: list) -> None:
    cfg = composed(*overrides)
    spec = baseline.baseline_spec(cfg)
    params = baseline.parameters({**spec, "widths": widths})
    positions = baseline.training_positions(cfg, "finetune")
    for step, need in finetune.check(by_stage(make_plan(cfg))["finetune"], cfg):
        assert need.bytes == model_artifact_bytes(params, trains=True, positions=positions), step.label
        assert need.transient == rewrite_bytes(params, positions=positions)


def test_a_schedules_last_step_keeps_the_one_shot_count() -> None:
    spec = {"widths": [16, 16, 32]}
    one_shot = {"name": "l1", "layers": ["C1", "C2", "C3"], "ratio": 0.75}
    steps = {**one_shot, "schedule": {"steps": 3, "step": 3}}
    assert (
        baseline.pruned_spec(spec, steps)["widths"]
        == baseline.pruned_spec(spec, one_shot)["widths"]
        == [4, 4, 8]
    )
    per_layer = {**one_shot, "ratio": None, "per_layer_ratio": {"C3": 0.5}, "round_to_block": 4}
    assert baseline.pruned_spec(spec, per_layer)["widths"] == [16, 16, 16]


def test_the_teacher_logits_estimate_follows_the_training_clips_and_classes() -> None:
    """The teacher artifact holds (training clips, classes) float32 logits and their names: TAU's 13,962
    training clips, not a fixed 4 MiB (an AudioSet-sized set would write gigabytes)."""
    from asc.core.disk import ARTIFACT_OVERHEAD
    from asc.pipeline.stages import teacher

    cfg = composed("dataset=tau2020mobile", "finetune.teacher=baseline")
    (step, need), *_ = teacher.check(by_stage(make_plan(cfg))["teacher"], cfg)
    assert need.bytes == 13_962 * (4 * 10 + teacher.NAME_BYTES) + ARTIFACT_OVERHEAD


def test_the_resume_checkpoint_keeps_the_training_examples_indices() -> None:
    """A run's last.pt keeps its training examples' positions (int64, asc/training/train_state.py ``identity``):
    a TAU-sized pool (13,962 clips) adds 110 KB per copy; on patches (VGGish_Net: 19 a clip) 19 times that."""
    clips = composed("dataset=tau2020mobile")
    assert baseline.training_positions(clips, "train") == 13_962
    patches = composed("experiment=nystrom_vggish", "dataset=demo16k")
    per_clip = baseline.training_positions(patches, "train") / baseline.training_positions(
        composed("experiment=nystrom_vggish", "dataset=demo16k", "train.examples=clips"), "train"
    )
    assert per_clip == 19
    assert model_artifact_bytes(10, trains=True, positions=100) - model_artifact_bytes(10, trains=True) == 800
    assert rewrite_bytes(10, positions=100) - rewrite_bytes(10) == 800


@pytest.mark.parametrize(
    ("overrides", "widths"),
    PRUNED_WIDTHS,
)
def test_a_pruned_networks_estimate_is_at_its_pruned_widths(overrides: tuple, widths: list) -> None:
    """The prune stage's artifact holds the pruned network, as the fine-tune estimate counts it (the DCASE family's
    hand surgery)."""
    from asc.pipeline.stages import prune

    cfg = composed(*overrides)
    params = baseline.parameters({**baseline.baseline_spec(cfg), "widths": widths})
    for step, need in prune.check(by_stage(make_plan(cfg))["prune"], cfg):
        assert need.bytes == model_artifact_bytes(params, trains=False), step.label


def test_a_graph_pruned_networks_estimate_is_at_its_pruned_widths() -> None:
    """VGGish_Net (dependency-graph surgery, asc/pipeline/stages/prune_graph.py): the paper's per-layer ratios (l2)
    counted at their kept widths by the family's formula; a criterion that decides its count (nystrom) at the
    configured widths, an upper bound."""
    from asc.nets.counts import vggish
    from asc.pipeline.stages import prune
    from asc.prune.blocks import kept_count

    narrow = ("model.widths=[8,8,16,16,16,16]", "model.dense=[16,8]")
    cfg = composed("experiment=nystrom_vggish", "dataset=demo16k", *narrow)
    shape = (64, cfg["features"]["frames"])
    needs = {s.config["name"]: n for s, n in prune.check(by_stage(make_plan(cfg))["prune"], cfg)}
    ratios = cfg["criteria"]["l2"]["per_layer_ratio"]
    kept = [kept_count(w, ratios[f"C{i + 1}"]) for i, w in enumerate(cfg["model"]["widths"])]
    assert kept != cfg["model"]["widths"]
    spec = {"widths": kept, "dense": [16, 8]}
    assert needs["l2"].bytes == model_artifact_bytes(vggish(spec, shape)["params"], trains=False)
    assert needs["nystrom"].bytes == model_artifact_bytes(baseline.stored_params(cfg), trains=False)


def test_a_schedules_steps_are_estimated_at_the_unpruned_widths() -> None:
    """Each step of an iterative schedule keeps more than the one-shot count until the last, and steps 2… keep
    the previous step's wider network while they fine-tune: the unpruned network is their upper bound."""
    from asc.pipeline.stages import prune

    cfg = composed("prune=l1", "prune.ratio=0.5", "+prune.schedule=3")
    params = baseline.parameters(baseline.baseline_spec(cfg))
    needs = prune.check(by_stage(make_plan(cfg))["prune"], cfg)
    assert len(needs) == 3
    assert needs[0][1].bytes == model_artifact_bytes(params, trains=False)
    positions = baseline.training_positions(cfg, "finetune")
    assert needs[2][1].bytes == model_artifact_bytes(params, trains=True, positions=positions)
