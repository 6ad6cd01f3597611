"""Each paper figure renders from a small synthetic results table and refuses an insufficient one."""

from __future__ import annotations

import pandas as pd
import pytest
from results_fixtures import LAYER_SETS, make_results  # noqa: F401

from asc import figures
from asc.figures import accuracy, filters, pareto
from asc.results import MissingResultsError, normalize


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return make_results()


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_figure_renders(results, tmp_path, name):
    paths = figures.FIGURES[name](results, tmp_path / name)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


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


def test_cost_figure_without_latency(results, tmp_path):
    # Rows from before latency was measured: only the accuracy-vs-MACs panel is drawn.
    old = results.drop(columns=[c for c in results.columns if c.startswith("lat_")])
    assert len(pareto.cost_pareto(old, tmp_path / "cost")) == 2
    with pytest.raises(MissingResultsError, match="asc experiment=paper_fig3"):
        pareto.cost_pareto(results.assign(macs=float("nan")), tmp_path / "none")
