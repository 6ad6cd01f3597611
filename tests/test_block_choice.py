"""Issue 27 §4's measured block choice: ``+prune.block_choice=measured`` rounds a layer's kept count to
``round_to_block`` only where the pruned network measures faster (asc/prune/block_choice.py,
asc/pipeline/stages/prune_blocks.py), keyed by the host it is measured on; ``always`` is today's rounding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import TINY_DEMO_DATA, composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.pipeline.validate import validate
from asc.prune import block_choice

L1 = ("prune=l1", "prune.ratio=0.3", "+prune.round_to_block=8")


def _pruned(*overrides: str):
    cfg = composed(*overrides)
    validate(cfg)
    (step,) = [s for s in make_plan(cfg) if s.stage == "prune"]
    return step


def test_the_greedy_choice_rounds_where_the_timer_says_faster_and_nowhere_else() -> None:
    exact, rounded = {"A": 11, "B": 11, "C": 24}, {"A": 8, "B": 16, "C": 24}
    faster = {"A": -0.2, "B": +0.1}  # ms a rounding changes: A faster, B slower; C's rounding changes nothing
    built = []

    def build(chosen):
        built.append(chosen)
        return chosen

    def timer(nets):
        return [1.0 + sum(faster[u] for u in net) for net in nets]

    chosen, last, records = block_choice.choose(["A", "B", "C"], exact, rounded, build, timer)
    assert chosen == {"A"} and last == {"A"}
    assert [r["kept"] for r in records] == [8, 11, 24]
    assert records[0]["current_ms"] == 1.0 and records[0]["rounded_ms"] == pytest.approx(0.8)
    assert records[1]["current_ms"] == pytest.approx(0.8) and records[1]["rounded_ms"] == pytest.approx(0.9)
    assert records[2]["rounded_ms"] is None and frozenset({"A", "C"}) not in built  # nothing to time for C
    # within the margin is no gain: a rounding 2 % faster is noise
    small = block_choice.choose(
        ["A"], exact, rounded, build, lambda nets: [1.0 - 0.02 * len(n) for n in nets]
    )
    assert small[0] == frozenset()
    assert "A 11→8 1.000/0.800 ms keeps 8" in block_choice.summary(records)


def test_the_measured_pruning_of_the_dcase_net_keeps_the_faster_counts() -> None:
    """A fake timer on the real network's widths: rounding C1 (11 → 8) is faster, C2 (11 → 8) slower, C3 (22 →
    24) no faster; the pruned network has C1 rounded, C2 and C3 exact."""
    from asc.nets.model import build_model
    from asc.pipeline.stages.prune_blocks import example_batch, measured, row_field
    from asc.prune.apply import prune_model

    def timer(nets):
        return [1.0 - 0.3 * (w[0] == 8) + 0.3 * (w[1] == 8) for w in (n.spec["widths"] for n in nets)]

    cfg = {"name": "l1", "layers": ["C1", "C2", "C3"], "ratio": 0.3, "round_to_block": 8}
    cfg |= {"block_choice": "measured", "block_host": block_choice.host()}
    model, info = measured(build_model(), cfg, prune_model, example_batch((40, 500)), timer)
    assert model.spec["widths"] == info["widths"] == [8, 11, 22]
    assert [(r["exact"], r["rounded"], r["kept"]) for r in info["blocks"]["layers"]] == [
        (11, 8, 8),
        (11, 8, 11),
        (22, 24, 22),
    ]
    assert json.loads(row_field(info)["block_choice"])["C1"]["kept"] == 8
    assert row_field({"kept": {}}) == {}


def test_a_network_pruned_by_dependency_graph_surgery_chooses_per_coupled_group() -> None:
    """A coupled group (C4+C6, one residual stage) is one unit: rounding it is faster, so both members keep the
    rounded count; the other groups keep their exact counts."""
    from types import SimpleNamespace

    import torch
    from group_checks import randomise
    from group_nets import ResidualNet

    from asc.pipeline.stages.prune_blocks import measured
    from asc.prune.apply import prune_any

    family = SimpleNamespace(exact_surgery=False, ignored=("head",))
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))

    def widths(net):
        return [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]

    def timer(nets):
        return [1.0 - 0.5 * (12 in widths(n)[3:5]) for n in nets]  # C4 or C6 at 12: faster

    cfg = {"name": "l1", "layers": ["*"], "ratio": 0.3, "round_to_block": 4, "block_choice": "measured"}
    _, info = measured(randomise(ResidualNet(), 0), cfg, lambda n, c: prune_any(n, c, family, x), x, timer)
    by_unit = {r["layer"]: (r["exact"], r["rounded"], r["kept"]) for r in info["blocks"]["layers"]}
    assert by_unit == {"C1+C3": (6, 8, 6), "C2": (8, 8, 8), "C4+C6": (11, 12, 12), "C5": (11, 12, 11)}
    assert info["widths"] == {"C1": 6, "C3": 6, "C2": 8, "C4": 12, "C6": 12, "C5": 11}


def test_the_cpu_timing_gives_one_median_per_network() -> None:
    import torch

    from asc.deploy.latency import cpu_medians

    threads = torch.get_num_threads()
    nets = [torch.nn.Conv1d(1, c, 3) for c in (4, 8)]
    medians = cpu_medians(nets, torch.randn(1, 1, 64), threads=1, rounds=3, calls=2)
    assert len(medians) == 2 and all(m > 0 for m in medians)
    assert torch.get_num_threads() == threads  # restored


def test_always_is_the_key_of_today_and_measured_keys_the_host() -> None:
    always = _pruned(*L1)
    assert _pruned(*L1, "+prune.block_choice=always").key == always.key
    assert "block_choice" not in always.config
    plain = _pruned("prune=l1", "prune.ratio=0.3")
    measured = _pruned(*L1, "+prune.block_choice=measured")
    assert len({always.key, plain.key, measured.key}) == 3
    assert measured.config["block_host"] == block_choice.host()
    assert measured.config["block_host"]["threads"] == block_choice.THREADS


def test_planning_a_measured_choice_imports_no_torch() -> None:
    code = (
        "import sys; from asc.pipeline.plan import make_plan; from config_fixtures import composed; "
        "make_plan(composed('prune=l1', 'prune.ratio=0.3', '+prune.round_to_block=8', "
        "'+prune.block_choice=measured')); "
        "print(sorted(m for m in ('torch', 'librosa', 'numba') if m in sys.modules))"
    )
    here = Path(__file__).resolve().parent  # the tests' folder: config_fixtures imports from there
    out = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ((*L1, "+prune.block_choice=sometimes"), "prune.block_choice='sometimes'"),
        (("prune=l1", "prune.ratio=0.3", "+prune.block_choice=measured"), "+prune.round_to_block=8"),
        (("prune=cosine", "+prune.round_to_block=8", "+prune.block_choice=measured"), "cosine (it decides"),
        ((*L1, "+prune.block_choice=measured", "+prune.schedule=3"), "schedule=3"),
        (
            (*L1, "+prune.block_choice=measured", "+prune.budget.macs=100000000", "+prune.budget.scan=s.csv"),
            "always with prune.budget",
        ),
    ],
)
def test_a_choice_asc_cannot_make_is_refused_at_planning_in_one_line(overrides, says) -> None:
    with pytest.raises(ConfigError) as err:
        _pruned(*overrides)
    assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_measured_choice_runs_through_the_prune_stage_and_is_reused(
    tmp_path: Path, shared_data: Path, caplog
) -> None:
    import asc
    from asc.app.api import compose

    args = [
        *TINY_DEMO_DATA,
        "train.epochs=1",
        "train.select_after=0",
        *L1,
        "+prune.block_choice=measured",
        "runs=[{criteria:[l1],layer_sets:null,fractions:[1.0],repeats:1}]",
        "quantise.enabled=false",
        "stage=prune",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    caplog.set_level("INFO", logger="asc")
    asc.run(args)
    (step,) = [s for s in make_plan(compose(args)) if s.stage == "prune"]
    folder = tmp_path / "store" / "prune" / step.key
    blocks = json.loads((folder / "blocks.json").read_text())
    info = json.loads((folder / "info.json").read_text())
    assert blocks["block"] == 8 and blocks["host"] == block_choice.host()
    kept = [r["kept"] for r in blocks["layers"]]
    assert kept == [len(info["kept"][f"C{i}"]) for i in (1, 2, 3)]
    assert all(r["kept"] in (r["exact"], r["rounded"]) for r in blocks["layers"])
    assert any("where measured faster" in m for m in caplog.messages)
    row = json.loads((folder / "row.json").read_text())
    assert json.loads(row["block_choice"])["C1"]["kept"] == kept[0]
    stamp = (folder / "model.pt").stat().st_mtime_ns
    asc.run(args)  # the same machine: the same key, the artifact reused
    assert (folder / "model.pt").stat().st_mtime_ns == stamp


def test_a_measured_choice_that_may_remove_filters_is_not_refused_as_the_baseline() -> None:
    """Rounding 16 × 0.3 → 11 up to 16 keeps every filter, the exact count 11 does not: with ``measured`` the
    network may be pruned, so the prune stage's check lets it through; with ``always`` it refuses it."""
    from asc.prune.blocks import check_removes_some

    p = {"name": "l1", "layers": ["C1"], "ratio": 0.3, "round_to_block": 16}
    with pytest.raises(ConfigError, match="C1 keeps 16 of 16"):
        check_removes_some("l1", p, {"C1": 16})
    check_removes_some("l1", {**p, "block_choice": "measured"}, {"C1": 16})
