"""Issue 27 §4, sensitivity scans: a `runs` block's ``sensitivity: [ratios]`` prunes each layer set alone at each
ratio per criterion (asc/prune/sensitivity.py); the report's table and figure of such rows
(asc/report/tables_sensitivity.py, asc/report/figures/sensitivity.py), written only where the rows hold a scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.pipeline.plan import make_plan
from asc.pipeline.validate import validate
from asc.report import queries, results
from asc.report.queries import MissingResultsError
from asc.report.table_writers import CSV_ONLY

SCAN = "runs=[{criteria:[l1],layer_sets:null,fractions:[1.0],sensitivity:[0.25,0.5]}]"


def _pruned(cfg):
    return [s for s in make_plan(cfg) if s.stage == "prune"]


def test_the_experiment_prunes_each_layer_set_alone_at_each_ratio_per_criterion() -> None:
    cfg = composed("experiment=sensitivity")
    pruned = _pruned(cfg)
    points = {(s.config["name"], "+".join(s.config["layers"]), s.config["ratio"]) for s in pruned}
    assert points == {
        (c, ls, r)
        for c in ("l1", "fpgm", "centrality")
        for ls in ("C1", "C2", "C3", "C1+C2+C3")
        for r in (0.1, 0.3, 0.5, 0.7, 0.9)
    }
    assert len(pruned) == 60 and all(not s.config.get("per_layer_ratio") for s in pruned)
    tuned = [s for s in make_plan(cfg) if s.stage == "finetune"]
    assert len(tuned) == 60 and cfg["finetune"]["epochs"] == 1 and cfg["quantise"]["enabled"] is False


def test_layer_sets_null_scans_each_criterion_layer_alone_and_a_point_is_the_one_shot_artifact() -> None:
    pruned = _pruned(composed(SCAN))
    assert [("+".join(s.config["layers"]), s.config["ratio"]) for s in pruned] == [
        (layer, r) for layer in ("C1", "C2", "C3") for r in (0.25, 0.5)
    ]
    one_shot = _pruned(composed("prune=l1", "prune.ratio=0.5", "prune.layers=[C2]"))
    assert one_shot[0].key in {s.key for s in pruned}  # the same pruning, one artifact


def test_each_scan_point_and_per_layer_setting_has_its_own_label() -> None:
    """The dry run's labels (asc.pipeline.stages.prune.label_of) name the ratio, so a scan's points read apart."""
    labels = [s.label for s in _pruned(composed(SCAN))]
    assert labels[:2] == ["l1 C1 ratio=0.25", "l1 C1 ratio=0.5"] and len(set(labels)) == len(labels) == 6
    per_layer = _pruned(composed("prune=l1", "prune.ratio=0.5", "++prune.per_layer_ratio.C2=0.25"))
    assert per_layer[0].label == "l1 C1+C2+C3 ratio=0.5 C2=0.25"
    assert _pruned(composed("prune=l1"))[0].label == "l1 C1+C2+C3"  # no ratio: l1 keeps cosine's counts


def test_a_selected_prune_config_is_scanned_over_its_own_layers() -> None:
    pruned = _pruned(composed(SCAN, "prune=centrality"))
    assert {("+".join(s.config["layers"]), s.config["ratio"]) for s in pruned} == {
        (layer, r) for layer in ("C1", "C2") for r in (0.25, 0.5)
    }


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (("runs=[{criteria:[l1],fractions:[1.0],sensitivity:[1.0]}]",), "runs[0].sensitivity=1.0"),
        (("runs=[{criteria:[l1],fractions:[1.0],sensitivity:[0]}]",), "runs[0].sensitivity=0"),
        (("runs=[{criteria:[l1],fractions:[1.0],sensitivity:0.5}]",), "sensitivity=[0.5]"),
        (("runs=[{criteria:[l1],fractions:[1.0],sensitivity:[]}]",), "runs[0].sensitivity=[]"),
        (
            ("runs=[{criteria:[cosine],fractions:[1.0],sensitivity:[0.5]}]",),
            "cosine decides its own kept count",
        ),
        (("runs=[{criteria:[random],fractions:[1.0],sensitivity:[0.5]}]",), "reference=cosine"),
        ((SCAN, "prune=given"), "given fixes its kept indices"),
        ((SCAN, "+criteria.l1.schedule=3"), "criteria.l1.schedule=3"),
        (("runs=[{criteria:[l1],fractions:[1.0],sensitvity:[0.5]}]",), "sensitivity"),  # a misspelt key
    ],
)
def test_a_scan_asc_cannot_run_is_refused_at_planning_in_one_line(overrides, says) -> None:
    with pytest.raises(ConfigError) as err:
        cfg = composed(*overrides)
        validate(cfg)  # asc/pipeline/validate.py, before planning (asc.app.sweep, asc.app.cli)
        make_plan(cfg)
    assert says in str(err.value) and "\n" not in str(err.value)


def scan_rows(repeats: int = 2) -> pd.DataFrame:
    """A baseline and a scan of l1 and fpgm on C1 and C2 at 25 / 50 %, each fine-tuned ``repeats`` times, plus a
    demo-like row (cosine, no ratio) that is no scan."""
    rows = [{"run_id": "b", "stage": "baseline", "criterion": "none", "accuracy": 0.5}]
    base = {"params_keras": 1000, "macs": 10**6, "params_torch": 1000, "dataset": "demo"}
    for c in ("l1", "fpgm"):
        for i, layers in enumerate(("C1", "C2")):
            for ratio in (0.25, 0.5):
                drop = ratio * (0.2 if layers == "C2" else 0.05)
                common = {"criterion": c, "layers": layers, "ratio": ratio, **base}
                common |= {"params_reduction_pct": 10 * ratio * (i + 1), "macs_reduction_pct": 20 * ratio}
                rows.append(
                    {"run_id": f"p{c}{layers}{ratio}", "stage": "prune", "accuracy": 0.3 - drop, **common}
                )
                for r in range(repeats):
                    acc = 0.5 - drop + 0.01 * r
                    rows.append(
                        {
                            "run_id": f"f{c}{layers}{ratio}{r}",
                            "stage": "finetune",
                            "fraction": 1.0,
                            "repeat": r,
                        }
                        | {"finetuned": True, "accuracy": acc, **common}
                    )
    rows.append(
        {"run_id": "c", "stage": "prune", "criterion": "cosine", "layers": "C1+C2+C3", "accuracy": 0.2}
    )
    for row in rows:
        row.setdefault("dataset", "demo")
        row.setdefault("params_keras", 1000)
        row.setdefault("macs", 10**6)
        row.setdefault("params_reduction_pct", 0.0)
        row.setdefault("macs_reduction_pct", 0.0)
    return results.normalize(pd.DataFrame(rows))


def test_the_table_has_a_line_per_criterion_layer_set_and_ratio_with_mean_and_std() -> None:
    from asc.report.tables_sensitivity import sensitivity_table

    table = sensitivity_table(queries.with_ratio_labels(scan_rows()))  # "l1 25%" labels are undone
    assert list(table.columns.drop(table.attrs[CSV_ONLY])) == [
        "Criterion",
        "Layers",
        "Removed (%)",
        "Params (%)",
        "MACs (%)",
        "Acc. before FT (%)",
        "Acc. FT 100% (%)",
    ]
    assert list(zip(table["Criterion"], table["Layers"], table["Removed (%)"], strict=True))[:4] == [
        ("fpgm", "C1", "25"),
        ("fpgm", "C1", "50"),
        ("fpgm", "C2", "25"),
        ("fpgm", "C2", "50"),
    ]
    line = table[
        (table["Criterion"] == "l1") & (table["Layers"] == "C2") & (table["Removed (%)"] == "50")
    ].iloc[0]
    assert line["Acc. before FT (%)"] == "20.0"  # one value: no ± part
    assert line["Acc. FT 100% (%)"] == "40.5 ± 0.7"  # 40 and 41 over two repeats
    assert line["Params (%)"] == "90.0" and line["MACs (%)"] == "90.0"
    # the CSV's numbers behind those cells, in percent (asc.report.cells.numbers)
    assert (line["acc_ft_100pct_mean"], line["acc_ft_100pct_n"]) == (pytest.approx(40.5), 2)
    assert line["acc_ft_100pct_std"] == pytest.approx(np.std([40.0, 41.0], ddof=1))
    assert line["acc_before_ft_n"] == 1 and np.isnan(line["acc_before_ft_std"])
    assert "cosine" not in set(table["Criterion"])  # a row without a ratio is no scan


def test_rows_without_a_scan_have_no_table() -> None:
    from asc.report.tables_sensitivity import sensitivity_rows

    one_ratio = scan_rows()
    one_ratio = one_ratio[one_ratio["ratio"].isna() | (one_ratio["ratio"] == 0.25)]
    with pytest.raises(MissingResultsError, match="experiment=sensitivity"):
        sensitivity_rows(one_ratio)  # one point is no curve


def test_the_figure_and_the_report_write_the_scan(tmp_path) -> None:
    from asc.report.figures.sensitivity import sensitivity_figure
    from asc.report.write import write_report

    paths = sensitivity_figure(scan_rows(), tmp_path / "fig" / "sensitivity")
    assert [p.name for p in paths] == ["sensitivity.png", "sensitivity.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    results.append(tmp_path / "results.csv", scan_rows().to_dict("records"))
    written = write_report(tmp_path / "results.csv", tmp_path / "report")
    assert sorted(p.name for p in written["sensitivity"]) == sorted(
        f"sensitivity.{ext}" for ext in ("csv", "md", "tex", "png", "pdf")
    )


def test_the_figure_has_a_panel_per_layer_set_a_line_per_criterion_and_params_then_macs() -> None:
    from matplotlib import pyplot as plt

    from asc.report.figures.sensitivity import draw_sensitivity

    fig = draw_sensitivity(scan_rows())
    try:
        axes = fig.axes
        assert len(axes) == 4  # 2 rows (parameters, MACs) × 2 layer sets (C1, C2)
        assert [ax.get_title() for ax in axes] == ["C1 pruned", "C2 pruned", "", ""]  # the columns
        assert [ax.get_xlabel() for ax in axes] == ["Parameters left (%)"] * 2 + ["MACs left (%)"] * 2
        for ax in axes:
            bars = ax.containers  # one errorbar per criterion after fine-tuning and one before
            assert len(bars) == 4
            styles = sorted(b.lines[0].get_linestyle() for b in bars)
            assert styles == ["-", "-", "--", "--"]
        solid = [b.lines[0] for b in axes[1].containers if b.lines[0].get_linestyle() == "-"]
        assert sorted(list(line.get_xdata()) for line in solid) == [[95.0, 90.0]] * 2  # C2: 10 × ratio × 2
        assert [list(b.lines[0].get_xdata()) for b in axes[2].containers][0] == [
            95.0,
            90.0,
        ]  # MACs: 20 × ratio
        labels = axes[1].get_legend_handles_labels()[1]
        assert {r"$\ell_1$-norm", "FPGM"} <= set(labels) and any(s.startswith("Unpruned") for s in labels)
    finally:
        plt.close(fig)
