"""Each paper figure renders from a small synthetic results table and refuses an insufficient one; error bars
are 95 % t intervals, the baseline a band, and coinciding series stay visible."""

from __future__ import annotations

import pandas as pd
import pytest
from results_fixtures import make_latency, make_results, with_histories

from asc.report import figures
from asc.report.cost_points import join_latency
from asc.report.figures import accuracy, filters, pareto, style
from asc.report.queries import MissingResultsError
from asc.report.results import normalize


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> pd.DataFrame:
    return with_histories(make_results(), tmp_path_factory.mktemp("store"))


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_figure_renders(results, tmp_path, name):
    paths = figures.FIGURES[name](results, tmp_path / name)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_runtime_figures_sets_the_formats_and_the_png_resolution(results, tmp_path):
    """runtime.figures: the files written, in the order of its formats, and the PNG's dots per inch."""
    from PIL import Image

    from asc.report.figure_output import FigureOutput, from_config, writing

    with writing(from_config({"formats": ["svg", "png"], "dpi": 50})):
        small = figures.FIGURES["fig5_cosine_vs_l1"](results, tmp_path / "small")
    large = figures.FIGURES["fig5_cosine_vs_l1"](
        results, tmp_path / "large"
    )  # outside the block: the defaults again
    assert [p.name for p in small] == ["small.svg", "small.png"]
    assert [p.suffix for p in large] == [".png", ".pdf"] and FigureOutput() == from_config(None)
    (w_small, h_small), (w_large, h_large) = (Image.open(p).size for p in (small[1], large[0]))
    assert w_large / w_small == pytest.approx(300 / 50, rel=0.05) and h_large / h_small == pytest.approx(
        6, rel=0.05
    )


def test_no_formats_write_the_tables_alone(results, tmp_path):
    """``runtime.figures.formats=[]``: every table, no figure drawn or written (and a record saying so: asking for
    figures later writes the report again)."""
    from asc.report import write as report
    from asc.report.figure_output import from_config
    from asc.report.results import append

    append(tmp_path / "results.csv", results.to_dict("records"))
    tables_only = from_config({"formats": [], "dpi": 300})
    written = report.write_report(tmp_path / "results.csv", tmp_path, figures=tables_only)
    assert set(written) >= {"summary", "table1"} and not set(written) & set(figures.FIGURES)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".png", ".pdf", ".svg")]
    assert not report.is_current(tmp_path / "results.csv", tmp_path, figures=from_config(None))


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_figure_refuses_empty_table(tmp_path, name):
    with pytest.raises(MissingResultsError, match=r"asc experiment=paper_fig\d"):
        figures.FIGURES[name](normalize(pd.DataFrame()), tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_figures_refuse_insufficient_tables(results, tmp_path):
    no_l1 = results[results["criterion"] != "l1"]
    with pytest.raises(MissingResultsError, match="paper_fig5"):
        accuracy.fig5_cosine_vs_l1(no_l1, tmp_path / "f5")
    not_finetuned = results[~results["finetuned"]]
    with pytest.raises(MissingResultsError, match="paper_fig3"):
        accuracy.fig3_layer_sets(not_finetuned, tmp_path / "f3")
    with pytest.raises(MissingResultsError, match="paper_fig6"):
        accuracy.fig6_fractions(not_finetuned, tmp_path / "f6")
    no_c2 = results[~results["layers"].str.contains("C2")]
    with pytest.raises(MissingResultsError, match="pruned C2"):
        filters.fig4_l1_norms(no_c2, tmp_path / "f4")


def test_figures_partial_data_still_render(results, tmp_path):
    # Fig. 6 with only the cosine curve and no no-fine-tuning marker; Fig. 3 without a baseline row.
    cosine_ft = results[(results["criterion"] == "cosine") & results["finetuned"]]
    assert len(accuracy.fig6_fractions(cosine_ft, tmp_path / "f6")) == 2
    no_base = results[results["stage"] != "baseline"]
    assert len(accuracy.fig3_layer_sets(no_base, tmp_path / "f3")) == 2


def test_several_datasets_need_a_choice(results, tmp_path):
    both = pd.concat([results, make_results("tau2020mobile")], ignore_index=True)
    with pytest.raises(ValueError, match="several datasets"):
        filters.fig2_closest_distance(both, tmp_path / "f2")
    assert len(accuracy.fig5_cosine_vs_l1(both, tmp_path / "f5", dataset="tau2020mobile")) == 2


def capture(monkeypatch, module) -> list:
    """Keep the figures ``module`` draws (instead of closing them on save)."""
    kept = []
    monkeypatch.setattr(module, "save_figure", lambda fig, stem: kept.append(fig) or [stem])
    return kept


def test_cost_figure_with_and_without_latency(results, tmp_path, monkeypatch):
    kept = capture(monkeypatch, pareto)
    pareto.cost_pareto(join_latency(results, make_latency(results, spread=0.05)), tmp_path / "cost")
    pareto.cost_pareto(join_latency(results, make_latency(results, spread=0.001)), tmp_path / "cost")
    pareto.cost_pareto(results, tmp_path / "cost")  # rows without latency: only the accuracy-vs-MACs panel
    (noisy, clear, old) = kept
    assert len(noisy.axes) == 2 and len(old.axes) == 1 and "Latency" in noisy.axes[1].get_xlabel()
    titles = [fig.axes[-1].get_title(loc="right") for fig in (noisy, clear)]
    assert "within the noise" in titles[0] and titles[1] == ""
    # Models of equal widths (chebyshev, average, random at C1+C2+C3 without fine-tuning: the same MACs) are
    # drawn side by side, not on top of each other.
    by_cost: dict[float, list[float]] = {}
    for line in old.axes[0].lines:
        if (
            line.get_marker() in ("o", "*")
            and len(line.get_xydata()) == 1
            and line.get_markerfacecolor() != "none"
        ):
            display_x = line.get_transform().transform(line.get_xydata())[0][0]
            by_cost.setdefault(round(line.get_xydata()[0][0], 6), []).append(round(display_x, 3))
    shared = [xs for xs in by_cost.values() if len(xs) > 1]
    assert shared and all(len(set(xs)) == len(xs) for xs in shared)


def _time_lines(fig) -> list:
    ax_time = fig.axes[1]
    return [
        line for line in ax_time.lines if line.get_marker() in ("o", "s", "^") and line.get_linestyle() == "-"
    ]


def test_fig6_time_panel_only_where_it_says_something(results, tmp_path, monkeypatch):
    kept = capture(monkeypatch, accuracy)
    # Criteria that keep equal widths train in the same time: one pooled line, not three identical ones.
    same_time = results.assign(train_time_s=results["fraction"].fillna(0) * 600 + 60)
    accuracy.fig6_fractions(same_time, tmp_path / "f6")
    (line,) = _time_lines(kept[0])
    labels = kept[0].axes[1].get_legend_handles_labels()[1]
    assert len(labels) == 1 and labels[0].startswith("All criteria (equal widths")
    # Times that differ by criterion: one line each, drawn side by side where they meet.
    by_criterion = same_time.assign(
        train_time_s=same_time["train_time_s"]
        * same_time["criterion"].map({"cosine": 1.0, "l1": 1.3}).fillna(1.6)
    )
    accuracy.fig6_fractions(by_criterion, tmp_path / "f6")
    assert len(_time_lines(kept[1])) == 3 and len({line.get_marker() for line in _time_lines(kept[1])}) == 3
    # A time that varies with nothing, or no time at all: no time panel.
    for flat in (results.assign(train_time_s=100.0), results.assign(train_time_s=float("nan"))):
        accuracy.fig6_fractions(flat, tmp_path / "f6")
        assert len(kept[-1].axes) == 1 and kept[-1].axes[0].get_ylabel() == "Accuracy (%)"


def test_fig6_names_coinciding_accuracy_series(results, tmp_path, monkeypatch):
    kept = capture(monkeypatch, accuracy)
    equal = results.assign(accuracy=results["fraction"].fillna(0) * 0.1 + 0.4)
    accuracy.fig6_fractions(equal, tmp_path / "f6")
    ax_acc = kept[0].axes[0]
    lines = [
        line for line in ax_acc.lines if line.get_marker() in ("o", "s", "^") and line.get_linestyle() == "-"
    ]
    first = [line.get_transform().transform(line.get_xydata())[0] for line in lines]  # display coordinates
    assert len(lines) == 3 and len({round(x, 3) for x, _ in first}) == 3
    assert (
        "drawn side by side" in kept[0].legends[0].get_title().get_text()
    )  # in the legend, not over the data


def test_reference_band_and_intervals():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    style.draw_reference(ax, [0.47, 0.48, 0.50])
    assert "n = 3; band: 95% CI" in ax.get_legend_handles_labels()[1][0] and len(ax.patches) == 1
    fig2, ax2 = plt.subplots()
    style.draw_reference(ax2, [0.47])
    assert ax2.get_legend_handles_labels()[1] == ["Unpruned (47.0%, n = 1)"] and not ax2.patches
    plt.close(fig)
    plt.close(fig2)
    assert style.coinciding({"a": {1: 10.0, 2: 20.0}, "b": {1: 10.1, 2: 20.0}, "c": {1: 15.0}}, tol=0.2) == [
        ["a", "b"]
    ]
