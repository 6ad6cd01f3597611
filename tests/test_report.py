"""Report tables (CSV/Markdown/LaTeX) and write_report over complete and partial results tables, with latency
measured once per report (side by side) and reused while it covers every architecture."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import QUICK_FIGURES
from results_fixtures import make_latency, make_results

from asc.deploy import latency
from asc.report import cells, cost_points, cost_views, queries, results, table_writers, tables
from asc.report import write as report
from asc.report.queries import MissingResultsError


def rows_to_csv(df: pd.DataFrame, path: Path) -> Path:
    results.append(path, df.to_dict("records"))
    return path


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return make_results()


def test_fmt_mean_std():
    assert cells.fmt_mean_std([0.48, 0.49]) == "48.5 ± 0.7"
    assert cells.fmt_mean_std([0.4858]) == "48.6"
    assert cells.fmt_mean_std([]) == ""
    assert cells.fmt_mean_std([1.5, 1.5], scale=1.0, digits=3) == "1.500 ± 0.000"


def test_table1(df):
    t = tables.table1(df)
    assert list(t["Accuracy (%)"]) == ["48.6 (n = 1)", "16.0", "10.0", "10.0", "10.0", "10.0"]
    assert t["Method"].iloc[0] == "Unpruned network" and "cosine" in t["Method"].iloc[1]
    with pytest.raises(MissingResultsError, match="paper_table1"):
        tables.table1(df[df["stage"] == "baseline"])


def test_baseline_seeds_are_shown_as_a_distribution():
    df = make_results(repeats=1, baseline_seeds=4)
    acc = df.loc[df["stage"] == "baseline", "accuracy"] * 100
    half = 3.182446 * acc.std() / 2  # t_0.975 with 3 degrees of freedom, sqrt(4) = 2
    expected = (
        f"{acc.mean():.1f} ± {acc.std():.1f} (n = 4; 95 % CI {acc.mean() - half:.1f}–{acc.mean() + half:.1f})"
    )
    assert tables.table1(df)["Accuracy (%)"].iloc[0] == expected
    assert tables.criteria_table(df)["Acc. no FT (%)"].iloc[0] == expected
    assert cost_views.cost_table(df)["Accuracy (%)"].iloc[0] == expected
    summary = tables.summary_table(df)
    assert summary.loc[summary["stage"] == "baseline", "Accuracy (%)"].iloc[0] == expected


def test_criteria_table(df):
    t = tables.criteria_table(df)
    assert t.iloc[0]["Criterion"] == "none"
    cos = t[(t["Criterion"] == "cosine") & (t["Layers"] == "C1+C2+C3")].iloc[0]
    assert cos["Params red. (%)"] == 48 and cos["MACs paper red. (%)"] == 31
    assert cos["Acc. no FT (%)"] == "16.0 (n = 1)"
    assert " ± " in cos["Acc. FT 100% (%)"] and " ± " in cos["Acc. FT 10% (%)"]
    assert set(t["Criterion"]) == {"none", "cosine", "chebyshev", "average", "l1", "random"}
    assert list(t["Layers"][t["Criterion"] == "cosine"]) == [
        "C1",
        "C2",
        "C3",
        "C1+C2",
        "C1+C3",
        "C2+C3",
        "C1+C2+C3",
    ]


def test_summary_and_writers(df, tmp_path):
    t = tables.summary_table(df)
    base = t[t["stage"] == "baseline"].iloc[0]
    assert base["Accuracy (%)"] == "48.6" and base["n"] == 1
    ft = t[(t["stage"] == "finetune") & (t["criterion"] == "l1") & (t["subset"] == "10%")].iloc[0]
    assert ft["n"] == 3 and " ± " in ft["Accuracy (%)"]
    assert "No results yet" in report.summary_markdown(df.iloc[:0])
    md = report.summary_markdown(df)
    assert md.startswith("| dataset | stage |") and "| 48.6 |" in md and "---:" in md
    paths = table_writers.write_table(tables.table1(df), tmp_path / "t1")
    assert [p.name for p in paths] == ["t1.csv", "t1.md", "t1.tex"]
    tex = paths[2].read_text()
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and "48.6" in tex
    assert r"Accuracy (\%)" in tex and r"l1-norm method (C1+C2+C3) & C1:11/16" in tex
    assert "16.0" in paths[1].read_text() and "16.0" in paths[0].read_text()


def test_latex_and_markdown_escape():
    t = pd.DataFrame({"name": ["a_b & c|d"], "acc": ["48.6 ± 0.7"], "n": [3]})
    tex = table_writers.to_latex(t)
    assert r"a\_b \& c|d & 48.6 $\pm$ 0.7 & 3 \\" in tex and "{lrr}" in tex
    assert r"a_b & c\|d" in table_writers.to_markdown(t)


def test_notes_and_markers_in_the_writers(tmp_path):
    t = pd.DataFrame({"acc": ["48.6 ± 0.7*†", "40.1 (n = 1)", "<0.001"], "who": ["a", "b", "c"]})
    t.attrs["notes"] = ["*: Holm p < 0.05", "† best; 5 % − 3 %"]
    md, tex = table_writers.to_markdown(t), table_writers.to_latex(t)
    assert "---: | :--- |" in md and "{rl}" in tex  # marked numbers still line up right
    assert md.endswith("Note: \\*: Holm p < 0.05  \nNote: † best; 5 % − 3 %  \n")
    assert r"48.6 $\pm$ 0.7*\dag{}" in tex and r"{\footnotesize \dag{} best; 5 \% $-$ 3 \%}" in tex
    csv = table_writers.write_table(t, tmp_path / "t")[0].read_text()
    assert "Note" not in csv and "Holm" not in csv  # the CSV stays data


def test_write_report_complete(df, tmp_path):
    path = rows_to_csv(df, tmp_path / "results.csv")
    written = report.write_report(path, tmp_path / "report")
    expected = {
        "summary",
        "table1",
        "criteria",
        "comparison",
        "fig2_closest_distance",
        "fig3_layer_sets",
        "fig4_l1_norms",
        "fig5_cosine_vs_l1",
        "fig6_fractions",
        "cost",
        "cost_pareto",
    }
    assert set(written) == expected
    for paths in written.values():
        assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_write_report_partial_warns(df, tmp_path, caplog):
    # Only the Table 1 prune rows without cosine/l1: tables and the cost figure are written, every paper figure is
    # skipped with a warning.
    partial = df[df["criterion"].isin(["none", "chebyshev", "average", "random"]) & ~df["finetuned"]]
    path = rows_to_csv(partial, tmp_path / "results.csv")
    with caplog.at_level(logging.WARNING, logger="asc.report.write"):
        written = report.write_report(path, tmp_path / "report")
    assert set(written) == {"summary", "table1", "criteria", "comparison", "cost", "cost_pareto"}
    for name in ("Fig. 2", "Fig. 3", "Fig. 4", "Fig. 5", "Fig. 6", "paper_fig3", "paper_fig5", "paper_fig6"):
        assert name in caplog.text
    assert not list((tmp_path / "report").glob("fig*"))


def test_write_report_several_datasets(df, tmp_path):
    # Table 1 rows only, so only the cost figure is rendered (figures per dataset are covered in test_figures.py).
    both = pd.concat([df, make_results("tau2020mobile")], ignore_index=True)
    both = both[both["criterion"].isin(["none", "chebyshev", "average", "random"]) & ~both["finetuned"]]
    written = report.write_report(rows_to_csv(both, tmp_path / "results.csv"), tmp_path / "report")
    assert set(written) == {"summary"} | {
        f"{d}/{t}"
        for d in ("demo", "tau2020mobile")
        for t in ("table1", "criteria", "comparison", "cost", "cost_pareto")
    }
    assert written["demo/table1"][0].parent == tmp_path / "report" / "demo"
    summary = pd.read_csv(written["summary"][0])
    assert set(summary["dataset"]) == {"demo", "tau2020mobile"}


def test_write_report_missing_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="asc experiment=demo"):
        report.write_report(tmp_path / "none.csv", tmp_path / "report")


def test_report_only_reads_the_table_and_builds_no_stage(df, tmp_path, capsys):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from asc.app.cli import run

    rows_to_csv(df, tmp_path / "results" / "results.csv")
    conf = Path(__file__).resolve().parents[1] / "conf"
    overrides = [
        "report_only=true",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
        *QUICK_FIGURES,  # the report-only path, not print quality (test_write_report_complete writes the defaults)
    ]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=overrides), resolve=True)
    run(cfg)
    assert (tmp_path / "results" / "table1.md").is_file()
    assert (tmp_path / "results" / "fig6_fractions.png").is_file()
    assert not (tmp_path / "data").exists() and not (tmp_path / "store").exists()  # nothing was built
    assert "| demo |" in capsys.readouterr().out  # the summary table is printed
    # the same again: up to date (asc/report/report_record.py), nothing written, the summary printed all the same
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*")}
    run(dict(cfg, dry_run=True))
    assert f"{tmp_path / 'results'} are up to date with" in capsys.readouterr().out
    run(cfg)
    assert "| demo |" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*")} == before
    with pytest.raises(ValueError, match="report_only=True is not valid: expected stage=report"):
        run(dict(cfg, stage="train"))


def test_a_dry_run_with_report_only_writes_nothing(df, tmp_path, capsys):
    """``dry_run=true report_only=true`` says what the report would rewrite and writes nothing (it rewrote the
    report: the report-only branch ran before the dry-run check); without a table it says so."""
    from config_fixtures import composed

    from asc.app.cli import run

    folder = tmp_path / "results"
    rows_to_csv(df, folder / "results.csv")
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    where = [f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")]
    run(composed("report_only=true", "dry_run=true", *where))
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before  # no table, figure or latency
    out = capsys.readouterr().out
    assert (
        f"rewritten from {folder / 'results.csv'} ({len(df)} row(s)" in out and "nothing was written" in out
    )
    (folder / "results.csv").unlink()
    run(composed("report_only=true", "dry_run=true", *where))
    assert not any(folder.iterdir()) and "no results table" in capsys.readouterr().out


def test_cost_table(df):
    t = cost_views.cost_table(cost_points.join_latency(df, make_latency(df)))
    base = t.iloc[0]
    assert base["Criterion"] == "none" and base["Params (Keras)"] == 46246 + 128
    assert base["fp16 (KB)"] == 90.6 and base["DCASE 128 KB"] == "fp16" and base["Accuracy of"] == "trained"
    assert {"CPU b1 (ms)", "CPU b64 (ms)", "ORT b1 (ms)", "Front (MACs)", "Front (CPU b1)"} <= set(t.columns)
    assert {"CPU b1 IQR (ms)", "ORT b1 IQR (ms)"} <= set(t.columns) and "interleaved" in t.attrs["notes"][0]
    cos = t[(t["Criterion"] == "cosine") & (t["Layers"] == "C1+C2+C3")].iloc[0]
    assert cos["Accuracy of"] == "FT 100%" and " ± " in cos["Accuracy (%)"]
    assert base["Accuracy (%)"] == "48.6 (n = 1)"
    assert cos["MACs (M)"] == round(286e6 * 0.69 / 1e6, 2)
    # Table 1-only criteria have no fine-tuned rows: their accuracy is the pruned one.
    cheb = t[t["Criterion"] == "chebyshev"].iloc[0]
    assert cheb["Accuracy of"] == "no FT" and cheb["Accuracy (%)"] == "10.0 (n = 1)"
    # The front: nothing on it is beaten by a cheaper, more accurate model; the unpruned baseline is on it
    # (most accurate), and so is the cheapest fine-tuned cosine model.
    front = t[t["Front (MACs)"] == "yes"]
    assert "none" in set(front["Criterion"]) and len(front) < len(t)
    for _, row in front.iterrows():
        cheaper = t[t["MACs (M)"] < row["MACs (M)"]]
        assert not (
            cheaper["Accuracy (%)"].str.split(" ").str[0].astype(float)
            >= float(row["Accuracy (%)"].split(" ")[0]) + 0.05
        ).any()


def test_cost_table_without_measured_columns(df):
    # Rows written before the cost columns existed: memory is derived from params_keras, latency is left out.
    old = df.drop(columns=[c for c in df.columns if c.startswith(("mem_", "dcase_"))])
    t = cost_views.cost_table(old)
    assert t.iloc[0]["fp32 (KB)"] == pytest.approx((46246 + 128) * 4 / 1024, abs=0.06)
    assert not any("(ms)" in c for c in t.columns) and "Front (MACs)" in t.columns
    with pytest.raises(MissingResultsError, match="asc experiment=demo"):
        cost_views.cost_table(df.iloc[:0])


def test_write_report_measures_latency_once_and_reuses_it(df, tmp_path, monkeypatch, caplog):
    calls = []

    def fake_measure(specs, **options):
        calls.append((sorted(specs.values()), options))
        return make_latency(df)[lambda t: t["model_spec"].isin(set(specs))].assign(
            machine=latency.machine_label()
        )

    monkeypatch.setattr(latency, "measure", fake_measure)
    monkeypatch.setattr(report.figures, "FIGURES", {})  # the other tables and the figures are tested above
    monkeypatch.setattr(report, "TABLES", {"cost": cost_views.cost_table})
    options = {
        "measure": True,
        "backends": ["cpu", "ort"],
        "batch_sizes": [1, 64],
        "repeats": 5,
        "budget_s": 2.0,
    }
    path = rows_to_csv(df, tmp_path / "results.csv")
    out = tmp_path / "report"
    written = report.write_report(path, out, latency=options)
    ((specs, kwargs),) = calls
    assert (
        len(specs) == 8 and kwargs["repeats"] == 5 and kwargs["batch_sizes"] == [1, 64]
    )  # 7 layer sets + full
    assert written["latency"] == [out / "latency.csv"] and (out / "machine.json").is_file()
    assert "ORT b1 (ms)" in pd.read_csv(written["cost"][0]).columns
    # Every architecture, backend and batch is in latency.csv: the next report reuses it; so does report_only.
    report.write_report(path, out, latency={**options, "batch_sizes": [1]})
    report.write_report(path, out, latency=None)
    assert len(calls) == 1 and "CPU b1 (ms)" in pd.read_csv(out / "cost.csv").columns
    # A new architecture: all of them are measured again, side by side.
    wider = df.iloc[:1].assign(
        run_id="wide", model_spec=df["model_spec"].iloc[0].replace("[16, 16, 32]", "[16, 16, 40]")
    )
    results.append(path, wider.to_dict("records"))
    report.write_report(path, out, latency=options)
    assert len(calls) == 2 and len(calls[1][0]) == 9
    # Options that cannot work fail before anything is measured.
    with pytest.raises(latency.ConfigError, match="runtime.latency.repeats"):
        report.write_report(path, out, latency={**options, "repeats": 0})
    # Rows from before model_spec: nothing to measure, said once.
    old = tmp_path / "old.csv"
    rows_to_csv(df.drop(columns=["model_spec"]), old)
    with caplog.at_level(logging.INFO, logger="asc.report.write"):
        written = report.write_report(old, tmp_path / "old", latency=options)
    assert "no model_spec" in caplog.text and "latency" not in written and len(calls) == 2


def test_a_distilling_finetune_is_a_row_of_its_own(df):
    """A KD fine-tuning (teacher column) of the same criterion, layers and fraction as hard-label ones is neither
    pooled with them by the summary nor by the planner's pooling key (asc.report.rows.pooling_key)."""
    from asc.report.rows import pooling_key

    tuned = df[df["stage"] == "finetune"]
    kd = tuned.iloc[[0]].assign(teacher="baseline", run_id="kd-run")
    both = pd.concat([df.assign(teacher=""), kd], ignore_index=True)
    summary = tables.summary_table(both)
    plain = tables.summary_table(df)
    assert len(summary) == len(plain) + 1
    line = summary[summary["teacher"] == "baseline"]
    assert len(line) == 1 and line["n"].iloc[0] == 1
    assert any(
        "KD baseline" in c for c in tables.criteria_table(both).columns
    )  # its own column, not a repeat
    assert "100% KD baseline" in set(queries.subsets(both)) and "100%" in set(queries.subsets(both))
    hard = tuned.iloc[0].to_dict()
    assert pooling_key(hard) != pooling_key({**hard, "teacher": "baseline"})
    assert pooling_key(hard) == pooling_key({**hard, "teacher": ""})
    assert pooling_key({**hard, "teacher": "baseline seed 0"}) == pooling_key({**hard, "teacher": "baseline"})
