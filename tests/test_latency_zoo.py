"""Latency of zoo networks in the report's interleaved timer (asc/deploy/latency.py): a row's ``model_spec`` names the
network and, when pruned, the channels its history removed (asc/pipeline/publish.py); the report rebuilds that
architecture, times it beside the others on torch and onnxruntime, and joins the times to the rows."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import torch

from asc import nets
from asc.deploy import latency
from asc.nets.checkpoint import rebuild
from asc.report.cost_points import join_latency

SPEC = {"name": "panns_cnn10", "widths": [4, 4, 8, 8], "n_classes": 10}
HISTORY = [["conv_block1.conv1", True, [0, 3]]]  # two of conv1's four filters removed (its BN follows)


def _row_spec(history=None) -> str:
    spec = dict(SPEC)
    if history:
        spec["history"] = [[p, o, len(i)] for p, o, i in history]  # as asc/pipeline/publish.py writes it
    return json.dumps(spec, sort_keys=True)


def test_a_pruned_zoo_row_is_its_own_architecture_with_its_widths() -> None:
    specs = latency.specs_of([_row_spec(), _row_spec(HISTORY), _row_spec(HISTORY)])
    assert sorted(specs.values()) == ["panns_cnn10", "panns_cnn10-2"]
    pruned = next(k for k, v in specs.items() if v == "panns_cnn10-2")
    model, shape = latency.build_architecture(pruned)
    real = rebuild(SPEC, [tuple(h) for h in HISTORY], what="test")
    assert shape == (64, 1001)  # PANNs' front end: 64 mel bands x 1001 frames per 10-s clip
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in real.parameters()]
    assert model.conv_block1.conv1.out_channels == 2


def test_index_lists_of_the_same_widths_are_one_architecture() -> None:
    other = [["conv_block1.conv1", True, [1, 2]]]
    assert latency.canonical_spec(_row_spec(HISTORY)) == latency.canonical_spec(_row_spec(other))


def test_zoo_rows_are_timed_and_joined(caplog) -> None:
    backends = ["cpu"] + (["ort"] if importlib.util.find_spec("onnxruntime") else [])
    rows = pd.DataFrame({"run_id": ["a", "b"], "model_spec": [_row_spec(), _row_spec(HISTORY)]})
    table = latency.measure(
        latency.specs_of(rows["model_spec"]), backends=backends, batch_sizes=[1], repeats=3, budget_s=0
    )
    assert len(table) == 2 * len(backends) and (table["median_ms"] > 0).all()
    joined = join_latency(rows, table)
    assert joined["lat_cpu_b1_ms"].notna().all()
    assert "not a model spec" not in caplog.text


def test_a_dcase_spec_keeps_its_label() -> None:
    from asc.nets.model import build_model

    spec = json.dumps(build_model({"widths": [2, 3, 4]}).spec)
    assert list(latency.specs_of([spec]).values()) == ["2-3-4"]
    torch.manual_seed(0)
    assert isinstance(latency.build_architecture(latency.canonical_spec(spec))[0], torch.nn.Module)
    assert nets.family_of(SPEC).name == "panns_cnn10"


def test_old_pruned_zoo_rows_without_their_widths_are_not_timed_as_the_unpruned_net(caplog) -> None:
    rows = pd.DataFrame(
        {
            "stage": ["baseline", "prune", "prune"],
            "model_spec": [_row_spec(), _row_spec(), _row_spec(HISTORY)],
        }
    )
    kept = latency.without_unknown_widths(rows)
    assert kept["model_spec"].tolist() == [_row_spec(), "", _row_spec(HISTORY)]
    assert "1 pruned zoo row(s)" in caplog.text and "widths are unknown" in caplog.text


def test_asc_time_times_a_pruned_zoo_checkpoint_beside_a_dcase_one(tmp_path, capsys) -> None:
    from model_fixtures import randomised_model

    from asc.deploy import timing
    from asc.nets.checkpoint import save
    from asc.nets.model import save_model

    torch.manual_seed(0)
    history = [tuple(h) for h in HISTORY]
    save(rebuild(SPEC, history, what="test"), tmp_path / "zoo.pt", SPEC, history)
    save_model(randomised_model({"widths": [2, 2, 4]}), tmp_path / "d.pt")
    args = [str(tmp_path / "zoo.pt"), str(tmp_path / "d.pt"), "--rounds", "3", "--min-run-time", "0.01"]
    assert timing.main([*args, "--csv", str(tmp_path / "t.csv")]) == 0
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 2 and (table["median_ms"] > 0).all()
