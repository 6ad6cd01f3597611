"""Figures fit for a paper: laid out without warnings (constrained layout), no error bars below n = 2 with n in
the legend, bars from 0 or a dot plot, one Pareto front per kind of accuracy, and the training curves."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from results_fixtures import make_latency, make_results, with_histories

from asc.report import figures
from asc.report.cost_points import join_latency, pareto_fronts
from asc.report.figures import accuracy, curves, pareto
from asc.report.queries import MissingResultsError


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")  # the figures a test kept instead of saving


pytestmark = pytest.mark.usefixtures("small_figures")  # the layout is under test, not print quality


@pytest.fixture(scope="module", params=[1, 3], ids=["n=1", "n=3"])
def table(request, tmp_path_factory) -> pd.DataFrame:
    df = with_histories(make_results(repeats=request.param), tmp_path_factory.mktemp("store"))
    return join_latency(df, make_latency(df))


def kept_figures(monkeypatch) -> list:
    kept: list = []
    for module in (accuracy, pareto, curves):
        monkeypatch.setattr(module, "save_figure", lambda fig, stem: kept.append(fig) or [stem])
    return kept


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_every_figure_is_laid_out_without_a_warning(table, tmp_path, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied", overlapping constrained layout, ...
        paths = figures.FIGURES[name](table, tmp_path / name)
    assert all(p.stat().st_size > 1000 for p in paths)


def vertical_bars(fig) -> list[float]:
    """The lengths of the drawn vertical error bars of every axes (NaN bars are not drawn)."""
    lengths = []
    for ax in fig.axes:
        for collection in ax.collections:
            for seg in getattr(collection, "get_segments", lambda: [])():
                seg = np.asarray(seg)
                if len(seg) == 2 and np.isfinite(seg).all() and np.isclose(seg[0, 0], seg[1, 0]):
                    lengths.append(abs(seg[1, 1] - seg[0, 1]))
    return lengths


def legend_text(fig) -> str:
    parts = [fig.axes[0].get_ylabel()]
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None:
            parts += [legend.get_title().get_text(), *(t.get_text() for t in legend.get_texts())]
    return " | ".join(parts)


@pytest.mark.parametrize(
    "draw", [accuracy.fig3_layer_sets, accuracy.fig5_cosine_vs_l1, accuracy.fig6_fractions]
)
def test_error_bars_only_from_n_2_and_the_legend_says_n(table, tmp_path, monkeypatch, draw):
    kept = kept_figures(monkeypatch)
    draw(table, tmp_path / "f")
    n = int(table.loc[table["stage"] == "finetune", "repeat"].max()) + 1
    bars, text = vertical_bars(kept[0]), legend_text(kept[0])
    if n == 1:
        assert not bars and "n = 1" in text and "95% t CI" not in text
    else:
        assert bars and all(b > 0 for b in bars) and f"n = {n}" in text and "95% t CI" in text


def test_the_cost_figure_has_no_error_bars_below_n_2(table, tmp_path, monkeypatch):
    kept = kept_figures(monkeypatch)
    pareto.cost_pareto(table.drop(columns=[c for c in table if c.startswith("lat_")]), tmp_path / "c")
    n = int(table.loc[table["stage"] == "finetune", "repeat"].max()) + 1
    assert bool(vertical_bars(kept[0])) == (n > 1)
    assert f"n = 1{'–' + str(n) if n > 1 else ''}" in kept[0].axes[0].get_ylabel()  # the baseline has n = 1


def test_bars_start_at_0_and_fig5_is_a_dot_plot(table, tmp_path, monkeypatch):
    kept = kept_figures(monkeypatch)
    accuracy.fig3_layer_sets(table, tmp_path / "f3")
    accuracy.fig5_cosine_vs_l1(table, tmp_path / "f5")
    fig3, fig5 = kept
    assert any(isinstance(c, BarContainer) for c in fig3.axes[0].containers)
    assert fig3.axes[0].get_ylim()[0] == 0
    assert not any(isinstance(c, BarContainer) for c in fig5.axes[0].containers)
    assert fig5.axes[0].get_ylim()[0] > 0  # zoomed in: dots, whose position (not length) is the value


def test_one_pareto_front_per_kind_of_accuracy():
    points = pd.DataFrame(
        {
            "basis": ["trained", "FT 100%", "FT 100%", "no FT", "no FT"],
            "macs": [100.0, 50.0, 45.0, 40.0, 30.0],
            "accuracy": [50.0, 45.0, 8.0, 10.0, 5.0],
        }
    )
    fronts = pareto_fronts(points, "macs")
    # Mixed, the not-fine-tuned model at 40 would push the fine-tuned one at 45 off the only front.
    assert fronts["fine-tuned"].tolist() == [True, True, True, False, False]
    assert fronts["not fine-tuned"].tolist() == [True, False, False, True, True]
    assert list(pareto_fronts(points[points["basis"] != "no FT"], "macs")) == ["fine-tuned"]


def test_the_cost_figure_draws_a_front_per_kind(table, tmp_path, monkeypatch):
    kept = kept_figures(monkeypatch)
    pareto.cost_pareto(table, tmp_path / "c")
    text = legend_text(kept[0])
    assert "Pareto front, fine-tuned" in text and "Pareto front, not fine-tuned" in text
    styles = {line.get_linestyle() for line in kept[0].axes[0].lines if line.get_drawstyle() == "steps-post"}
    assert styles == {"--", ":"}


def test_training_curves_from_the_stored_histories(table, tmp_path, monkeypatch):
    kept = kept_figures(monkeypatch)
    gone = table.copy()
    gone.loc[gone["stage"] == "baseline", "checkpoint"] = str(tmp_path / "moved" / "model.pt")
    curves.training_curves(table, tmp_path / "curves")
    curves.training_curves(gone, tmp_path / "curves")  # the baseline's artifact is not here: left out
    full, partial = kept
    assert len(full.axes) == 4 and len(partial.axes) == 2
    assert full.axes[0].get_xlabel() == "Baseline epoch" and full.axes[2].get_xlabel() == "Fine-tuning epoch"
    ys = full.axes[0].lines[0].get_ydata()
    assert len(ys) == 12 and ys[0] > ys[-1]  # the baseline's loss, epoch by epoch, falling
    labels = full.axes[3].get_legend_handles_labels()[1]
    n = int(
        (table["stage"] == "finetune").sum() / table.loc[table["stage"] == "finetune", "criterion"].nunique()
    )
    assert any("n = " in label for label in labels)
    if n > 1:
        assert any("thick: mean" in label for label in labels)
    with pytest.raises(MissingResultsError, match="metrics.json"):
        curves.training_curves(table[table["stage"] == "prune"], tmp_path / "none")
