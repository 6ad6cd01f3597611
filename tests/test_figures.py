"""Each paper figure renders from a small synthetic results table and refuses an insufficient one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asc import figures
from asc.figures import MissingResultsError
from asc.results import normalize

LAYER_SETS = ["C1", "C2", "C3", "C1+C2", "C1+C3", "C2+C3", "C1+C2+C3"]
# (params reduction %, paper-convention MAC reduction %) roughly as in the paper.
REDUCTION = {"C1": (9, 1.8), "C2": (25, 27), "C3": (22, 2.2), "C1+C2": (34, 29), "C1+C3": (31, 4),
             "C2+C3": (47, 29), "C1+C2+C3": (48, 31)}  # fmt: skip
WIDTHS = {"C1": 16, "C2": 16, "C3": 32}
FRACTIONS = [0.1, 0.25, 0.5, 0.75, 1.0]


def make_results(dataset: str = "demo", repeats: int = 3) -> pd.DataFrame:
    """A complete synthetic results table: baseline, prune rows, fine-tuned layer sets and the fraction study."""
    rng = np.random.default_rng(0)
    rows = [{"run_id": f"{dataset}-base", "stage": "baseline", "criterion": "none", "accuracy": 0.4858,
             "params_torch": 46246, "macs": 286_000_000, "train_time_s": 900.0, "epochs": 200}]  # fmt: skip

    def structure(layers: str) -> dict:
        p, m = REDUCTION[layers]
        return {"layers": layers, "params_reduction_pct": p, "macs_paper_reduction_pct": m,
                "macs_reduction_pct": m + 1, "params_torch": round(46246 * (1 - p / 100)),
                "macs": round(286e6 * (1 - m / 100)), "kept": " ".join(f"{c}:11/16" for c in layers.split("+"))}  # fmt: skip

    for crit in ["cosine", "chebyshev", "average", "l1", "random"]:
        for layers in LAYER_SETS if crit in ("cosine", "l1") else ["C1+C2+C3"]:
            row = {"run_id": f"{dataset}-prune-{crit}-{layers}", "stage": "prune", "criterion": crit,
                   "accuracy": 0.16 if crit == "cosine" else 0.10, **structure(layers)}  # fmt: skip
            if crit == "cosine":
                names = layers.split("+")
                row["closest_distance"] = json.dumps(
                    {c: rng.uniform(0, 0.4, WIDTHS[c]).tolist() for c in names}
                )
                row["l1_norms"] = json.dumps({c: rng.uniform(2.0, 3.0, WIDTHS[c]).tolist() for c in names})
                row["kept_indices"] = json.dumps(
                    {c: sorted(rng.choice(WIDTHS[c], 11, replace=False).tolist()) for c in names}
                )
            rows.append(row)
    studies = [(c, ls, 1.0) for c in ("cosine", "l1") for ls in LAYER_SETS]
    studies += [(c, "C1+C2+C3", f) for c in ("cosine", "l1", "random") for f in FRACTIONS]
    for crit, layers, frac in studies:
        for r in range(repeats):
            rows.append({"run_id": f"{dataset}-ft-{crit}-{layers}-{frac}-{r}", "stage": "finetune",
                         "criterion": crit, "fraction": frac, "repeat": r, "seed": r, "finetuned": True,
                         "accuracy": 0.40 + 0.05 * frac + rng.normal(0, 0.005) + (0.01 if crit == "cosine" else 0),
                         "train_time_s": 60 + 600 * frac + rng.normal(0, 5), "epochs": 30, **structure(layers)})  # fmt: skip
    for row in rows:
        row.setdefault("dataset", dataset)
        row.setdefault("repeat", 0)
        row.setdefault("seed", 0)
        row.setdefault("class_avg_accuracy", row["accuracy"] - 0.01)
        row.setdefault("log_loss", 1.5)
    return normalize(pd.DataFrame(rows))


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
        figures.fig5_cosine_vs_l1(no_l1, tmp_path / "f5")
    not_finetuned = results[~results["finetuned"]]
    with pytest.raises(MissingResultsError, match="paper_fig3"):
        figures.fig3_layer_sets(not_finetuned, tmp_path / "f3")
    with pytest.raises(MissingResultsError, match="paper_fig6"):
        figures.fig6_fractions(not_finetuned, tmp_path / "f6")
    no_c2 = results[~results["layers"].str.contains("C2")]
    with pytest.raises(MissingResultsError, match="pruned C2"):
        figures.fig4_l1_norms(no_c2, tmp_path / "f4")


def test_figures_partial_data_still_render(results, tmp_path):
    # Fig. 6 with only the cosine curve and no no-fine-tuning marker; Fig. 3 without a baseline row.
    cosine_ft = results[(results["criterion"] == "cosine") & results["finetuned"]]
    assert len(figures.fig6_fractions(cosine_ft, tmp_path / "f6")) == 2
    no_base = results[results["stage"] != "baseline"]
    assert len(figures.fig3_layer_sets(no_base, tmp_path / "f3")) == 2


def test_several_datasets_need_a_choice(results, tmp_path):
    both = pd.concat([results, make_results("tau2020mobile")], ignore_index=True)
    with pytest.raises(ValueError, match="several datasets"):
        figures.fig2_closest_distance(both, tmp_path / "f2")
    assert len(figures.fig5_cosine_vs_l1(both, tmp_path / "f5", dataset="tau2020mobile")) == 2
