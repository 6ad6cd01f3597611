"""One results table holding two networks (``asc`` then ``asc model=dcase2024 prune=cosine`` into one
``paths.results``): no table or figure pools their rows (asc/report/networks.py), and a single network's report is
what it was."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from results_fixtures import make_results

from asc.nets.model_spec import normalise_spec
from asc.report import write as report
from asc.report.compare import comparisons
from asc.report.cost import memory_columns
from asc.report.cost_points import cost_points
from asc.report.cost_views import cost_table
from asc.report.figures.accuracy import fig3_layer_sets
from asc.report.networks import NETWORK, network_key, network_labels, with_network_labels
from asc.report.queries import with_ratio_labels
from asc.report.results import normalize
from asc.report.tables import criteria_table, summary_table, table1

pytestmark = pytest.mark.usefixtures("small_figures")  # which folders and labels, not print quality

ZOO = {"name": "dcase2024", "base_channels": 32, "n_classes": 10}
A, B = "dcase 16-16-32", "dcase2024"


def other_network(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s rows as another network's: a zoo ``model_spec`` (pruned rows with a history), 10× the costs."""
    out = df.copy()
    out["run_id"] = "b-" + out["run_id"]
    out["model_spec"] = [
        json.dumps({**ZOO, **({"history": [["b1.conv", True, 4]]} if s != "baseline" else {})})
        for s in out["stage"]
    ]
    for column in ("params_torch", "params_keras", "macs", "macs_paper"):
        out[column] = out[column] * 10
    memory = pd.DataFrame([memory_columns(int(p)) for p in out["params_keras"]], index=out.index)
    out[memory.columns] = memory
    return out


@pytest.fixture(scope="module")
def one() -> pd.DataFrame:
    return make_results()


@pytest.fixture(scope="module")
def two(one) -> pd.DataFrame:
    return normalize(pd.concat([one, other_network(one)], ignore_index=True))


def _mine(df: pd.DataFrame, network: str) -> pd.DataFrame:
    return df[df[NETWORK] == network].drop(columns=NETWORK).reset_index(drop=True)


def test_one_network_gets_no_label(one):
    assert with_network_labels(one) is one  # no column: every view of a single network as before
    assert NETWORK not in cost_points(one)


def test_network_key_drops_pruning_and_labels_tell_twins_apart():
    pruned = json.dumps(normalise_spec({"widths": [11, 16, 22]}))
    assert network_key(pruned) == network_key(json.dumps(normalise_spec()))
    assert network_key(json.dumps({**ZOO, "history": [["x", True, 3]]})) == network_key(json.dumps(ZOO))
    keys = [network_key(json.dumps(ZOO)), network_key(json.dumps({**ZOO, "base_channels": 8}))]
    assert set(network_labels(keys).values()) == {"dcase2024 base_channels=32", "dcase2024 base_channels=8"}
    d22 = network_key(json.dumps(normalise_spec({"input_shape": [40, 51], "pools": [None, [5, 5], [4, 10]]})))
    labels = network_labels([network_key(json.dumps(normalise_spec())), d22])
    assert labels[d22].startswith("dcase input_shape=40x51 pools=")


def test_cost_points_one_baseline_per_network(one, two):
    points = cost_points(two)
    base = points[points["baseline"]]
    assert list(base[NETWORK]) == [A, B]
    assert list(base["macs"]) == [286_000_000, 2_860_000_000]  # never a median of the two networks
    alone = cost_points(one)
    for network, scale in ((A, 1), (B, 10)):
        mine = _mine(points, network)
        assert list(mine["criterion"]) == list(alone["criterion"])
        assert list(mine["macs"]) == [m * scale for m in alone["macs"]]
        assert mine["accuracy"].tolist() == pytest.approx(alone["accuracy"].tolist())


def test_cost_table_names_each_network(two):
    table = cost_table(two)
    assert table.columns[0] == "Network"
    assert table.groupby("Network")["Criterion"].apply(lambda c: (c == "none").sum()).to_dict() == {
        A: 1,
        B: 1,
    }


def test_summary_lists_each_network_apart(one, two):
    table = summary_table(with_network_labels(two))
    assert set(table[NETWORK]) == {A, B}
    assert (table["stage"] == "baseline").sum() == 2
    alone = summary_table(one)
    assert len(table) == 2 * len(alone)
    assert _mine(table, A)["MACs (M)"].tolist() == alone["MACs (M)"].tolist()


def test_comparisons_pair_only_within_a_network(one, two):
    comp = comparisons(two)
    alone = comparisons(one)
    for network in (A, B):  # the same accuracies on both networks: the same pairs, never across them
        pd.testing.assert_frame_equal(_mine(comp, network), alone, check_dtype=False)


def test_views_of_one_network_refuse_several(two):
    for view in (table1, criteria_table):
        with pytest.raises(ValueError, match="several networks"):
            view(two)
    with pytest.raises(ValueError, match="several networks"):
        fig3_layer_sets(two, "unused")


def test_write_report_per_network_folders(one, two, tmp_path):
    rows = ["none", "chebyshev", "average", "random"]  # Table 1 rows only: fast, every table still written

    def table1_rows(df):
        return df[df["criterion"].isin(rows) & ~df["finetuned"]]

    single = tmp_path / "one" / "results.csv"
    single.parent.mkdir()
    table1_rows(one).to_csv(single, index=False)
    alone = report.write_report(single, tmp_path / "one" / "report")
    both = tmp_path / "two" / "results.csv"
    both.parent.mkdir()
    table1_rows(two).to_csv(both, index=False)
    written = report.write_report(both, tmp_path / "two" / "report")
    views = {"table1", "criteria", "comparison", "cost", "cost_pareto"}
    folders = {"dcase_16-16-32", "dcase2024"}
    assert set(written) == {"summary", "cost", "cost_pareto"} | {f"{f}/{v}" for f in folders for v in views}
    for name in views - {
        "cost_pareto"
    }:  # network A's own views are byte for byte its single-network report's
        for mine, before in zip(written[f"dcase_16-16-32/{name}"], alone[name], strict=True):
            assert mine.read_bytes() == before.read_bytes(), mine
    spanning = pd.read_csv(written["cost"][0])
    assert set(spanning["Network"]) == {A, B}


def test_ratio_labels_are_per_network(two):
    rows = two.assign(ratio=[0.25 if n == A else 0.5 for n in with_network_labels(two)[NETWORK]])
    rows.loc[rows["stage"] == "baseline", "ratio"] = float("nan")
    labelled = with_ratio_labels(with_network_labels(rows))
    assert "cosine" in set(labelled["criterion"])  # one ratio per network: no ratio in the name
    rows.loc[rows.index[-1], "ratio"] = 0.75  # a second ratio of one network's criterion
    named = with_ratio_labels(with_network_labels(rows))
    assert {"random 50%", "random 75%"} <= set(named["criterion"])


def wider(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s rows as a DCASE network twice as wide (32-32-64), otherwise the same: its specs' widths and its
    ``kept`` cells' original widths doubled."""
    out = df.copy()
    out["run_id"] = "w-" + out["run_id"]
    specs = [json.loads(s) for s in out["model_spec"]]
    out["model_spec"] = [json.dumps({**s, "widths": [2 * w for w in s["widths"]]}) for s in specs]
    out["kept"] = (
        out["kept"]
        .fillna("")
        .str.replace(r"(C\d+):(\d+)/(\d+)", lambda m: f"{m[1]}:{2 * int(m[2])}/{2 * int(m[3])}", regex=True)
    )
    return out


def test_two_dcase_networks_of_other_widths_are_two_networks(one):
    """``asc`` and ``asc model.widths=[32,32,64]`` into one results folder: the report keeps them apart, each labelled
    with its unpruned widths, and a pruned row (its own widths pruned) goes with its baseline's network (from its
    ``kept`` cell). They shared one label (the network key drops the widths), so their rows pooled. Artifact keys
    are untouched: this is the report's grouping only."""
    both = normalize(pd.concat([one, wider(one)], ignore_index=True))
    labels = with_network_labels(both)[NETWORK]
    assert set(labels) == {A, "dcase 32-32-64"}
    assert (labels[both["run_id"].str.startswith("w-")] == "dcase 32-32-64").all()
    assert (labels[~both["run_id"].str.startswith("w-")] == A).all()
    comp = comparisons(both)
    for network in (A, "dcase 32-32-64"):  # the same accuracies: the same pairs, never across the two
        pd.testing.assert_frame_equal(_mine(comp, network), comparisons(one), check_dtype=False)
