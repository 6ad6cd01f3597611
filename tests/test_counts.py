"""A family's torch-free formula (asc/nets/counts.py, ``Family.counts``) counts what the built network holds and
computes: values a checkpoint holds and MACs per clip, equal to the real build's (the DCASE family: its analytic
complexity, asc/nets/complexity.py) and the meta build's (VGGish_Net: state_dict and torch's FLOP counter, which
planning used before) for several configs; and planning's disk and ETA estimates use it without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asc.nets import family_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "dcase21"},
        {"name": "dcase21", "widths": [8, 12, 20], "kernel": 5},
        {"name": "dcase21", "widths": [4, 6], "pools": [[2, 5], [4, 10]], "dense": 30, "n_classes": 3},
        {"name": "dcase22", "input_shape": [40, 51], "pools": [None, [5, 5], [4, 10]]},
    ],
)
def test_the_dcase_formula_is_the_built_networks_count(spec: dict) -> None:
    from asc.nets import build
    from asc.nets.complexity import complexity

    counted = family_of(spec).counts({k: v for k, v in spec.items() if k != "name"}, (0, 0))
    real = complexity(build(spec))
    assert counted == {"params": real["params_keras"], "macs": real["macs"]}


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        ({}, (64, 1000)),  # the published VGGish_Net: 55,361,162 parameters, 19 patches of 847.1 M MACs
        ({"widths": [4, 4, 8, 8, 8, 8], "dense": [16, 8], "n_classes": 3}, (64, 500)),
        ({"widths": [2, 3, 5, 7, 11, 13], "n_mels": 32, "patch_frames": 48, "patch_hop": 24}, (32, 200)),
        ({"widths": [3, 3, 3, 3, 3, 5], "dense": [6, 4], "patch_frames": 112, "patch_hop": 7}, (64, 112)),
    ],
)
def test_the_vggish_formula_is_the_built_networks_count(spec: dict, shape: tuple[int, int]) -> None:
    from asc.nets.cost import network_macs
    from asc.pipeline.stages.baseline import planned_network

    model = planned_network({"name": "vggish_asc", **spec})  # on torch's meta device, as planning built it
    stored = sum(t.numel() for t in model.state_dict().values())
    assert family_of({"name": "vggish_asc"}).counts(spec, shape) == {
        "params": stored,
        "macs": network_macs(model, shape),
    }
    if not spec:
        assert stored == family_of({"name": "vggish_asc"}).published_params


def test_the_formula_refuses_a_clip_shorter_than_a_patch() -> None:
    with pytest.raises(ValueError, match="at least 96"):
        family_of({"name": "vggish_asc"}).counts({}, (64, 95))


PLANNED = """
import sys
from config_fixtures import composed
from asc.pipeline.eta import clip_macs
from asc.pipeline.plan import by_stage, make_plan
from asc.pipeline.stages import baseline, finetune, quantise, train
cfg = composed(*sys.argv[1:])
grouped = by_stage(make_plan(cfg))
needs = [n.bytes for module, stage in ((train, "train"), (finetune, "finetune"), (quantise, "finetune"))
         for _, n in module.check(grouped[stage][:1], cfg)]
print(clip_macs(cfg), baseline.stored_params(cfg), len(needs))
print("LOADED", *[m for m in ("torch", "librosa", "numba") if m in sys.modules])
"""


@pytest.mark.parametrize(
    ("overrides", "params", "macs"),
    [
        (("experiment=nystrom_vggish", "dataset=demo16k"), 55_361_162, 19 * 847_119_616),
        (("model=dcase21",), 46_246, 286_637_800),
    ],
    ids=["vggish", "dcase21"],
)
def test_planning_estimates_count_by_the_formula_without_torch(
    overrides: tuple, params: int, macs: int
) -> None:
    """The ETA's MACs per clip and the train/finetune/quantise disk estimates, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PLANNED, *overrides],
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counted, loaded = done.stdout.splitlines()[-2:]
    assert counted.split() == [str(macs), str(params), "3"]
    assert loaded == "LOADED", done.stdout[-500:]
