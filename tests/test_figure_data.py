"""What the figures draw (their lines, markers and labels, not pixels): fig. 6's texts never share the panels
with the data, the cost figure carries each pruned network before fine-tuning beside its fine-tuned point,
training curves are one line per criterion × layer set × teacher on whole-epoch ticks, and distilled rows never
enter a hard-label figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from results_fixtures import make_results, with_histories

from asc.report.cost_points import cost_points
from asc.report.figures import accuracy, curves, pareto
from asc.report.figures.style import LABELS


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> pd.DataFrame:
    return with_histories(make_results(), tmp_path_factory.mktemp("store"))


def capture(monkeypatch, module) -> list:
    kept = []
    monkeypatch.setattr(module, "save_figure", lambda fig, stem: kept.append(fig) or [stem])
    return kept


def with_kd(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` plus distilled fine-tuning rows (cosine and l1 at 100 %, every layer set) far above the rest."""
    kd = df[df["finetuned"] & np.isclose(df["fraction"], 1.0)].copy()
    kd = kd.assign(teacher="baseline seed 0", accuracy=0.99, run_id=kd["run_id"] + "-kd")
    return pd.concat([df.assign(teacher=""), kd], ignore_index=True)


def test_fig6_writes_no_text_over_the_data(results, tmp_path, monkeypatch):
    kept = capture(monkeypatch, accuracy)
    timed = results.assign(
        train_time_s=results["fraction"].fillna(0) * 600 * results["criterion"].map({"l1": 1.3}).fillna(1.0)
    )
    accuracy.fig6_fractions(timed.assign(accuracy=timed["fraction"].fillna(0) * 0.1 + 0.4), tmp_path / "f6")
    fig = kept[0]
    assert len(fig.axes) == 2
    assert all(ax.get_legend() is None and not ax.texts for ax in fig.axes)  # nothing inside the panels
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert {f"{LABELS[c]} (n = 3)" for c in ("cosine", "l1", "random")} <= set(labels)
    assert sum(x.startswith("Time: ") for x in labels) == 3
    assert "drawn side by side" in legend.get_title().get_text()


def _markers(ax, hollow: bool) -> set[float]:
    """The x of the one-point model markers of a cost panel, hollow (not fine-tuned) or filled."""
    out = set()
    for line in ax.lines:
        if line.get_marker() == "o" and len(line.get_xydata()) == 1 and line.get_markersize() == 4:
            if (to_rgba(line.get_markerfacecolor()) == (1.0, 1.0, 1.0, 1.0)) == hollow:
                out.add(round(float(line.get_xydata()[0][0]), 6))
    return out


def test_the_cost_figure_shows_pruned_only_points_beside_fine_tuned_ones(results, tmp_path, monkeypatch):
    points = cost_points(results, pruned_too=True)
    cos = points[(points["criterion"] == "cosine") & (points["layers"] == "C1")]
    assert sorted(cos["basis"]) == ["FT 100%", "no FT"] and cos["macs"].nunique() == 1
    assert len(cost_points(results)) < len(points)  # the tables keep one point per model
    kept = capture(monkeypatch, pareto)
    pareto.cost_pareto(results, tmp_path / "cost")
    ax = kept[0].axes[0]
    hollow, filled = _markers(ax, True), _markers(ax, False)
    mmacs = round(float(cos["macs"].iloc[0]) / 1e6, 6)
    assert mmacs in hollow and mmacs in filled  # cosine C1: before and after fine-tuning
    pruned = results.loc[results["stage"] == "prune", "macs"]
    assert hollow == {
        round(float(m) / 1e6, 6) for m in pruned
    }  # every pruned network, not only those never tuned


def test_training_curves_are_one_line_per_layer_set_on_whole_epochs(results, tmp_path, monkeypatch):
    kept = capture(monkeypatch, curves)
    curves.training_curves(with_kd(results), tmp_path / "curves")
    fig = kept[0]
    tuned = fig.axes[3]  # fine-tuning, selection accuracy
    labels = tuned.get_legend_handles_labels()[1]
    names = [x.split(" (n = ")[0] for x in labels]
    cos, l1 = LABELS["cosine"], LABELS["l1"]
    assert {f"{cos} C1", f"{cos} C1+C2+C3", f"{l1} C2"} <= set(names)
    assert f"{cos} C1 KD baseline" in names  # distilled runs: a series of their own
    assert len(names) == len(set(names))
    n = dict(zip(names, [int(x.split(" (n = ")[1].split(";")[0].rstrip(")")) for x in labels], strict=True))
    assert n[f"{cos} C1+C2+C3"] == 15 and n[f"{cos} C1"] == 3  # 5 fractions x 3 repeats; 3 repeats
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def _drawn(fig) -> list[tuple]:
    return [tuple(np.round(line.get_xydata().ravel(), 6)) for ax in fig.axes for line in ax.lines]


@pytest.mark.parametrize(
    "draw", [accuracy.fig3_layer_sets, accuracy.fig5_cosine_vs_l1, accuracy.fig6_fractions]
)
def test_distilled_rows_never_enter_a_hard_label_figure(results, tmp_path, monkeypatch, draw):
    kept = capture(monkeypatch, accuracy)
    draw(results, tmp_path / "a")
    draw(with_kd(results), tmp_path / "b")
    plain, mixed = kept
    assert _drawn(plain) == _drawn(mixed)
    bars = [[p.get_height() for p in ax.patches] for fig in kept for ax in fig.axes]
    assert bars[: len(bars) // 2] == bars[len(bars) // 2 :]
    cols = ["criterion", "layers", "basis", "accuracy", "n"]
    pd.testing.assert_frame_equal(cost_points(results)[cols], cost_points(with_kd(results))[cols])
