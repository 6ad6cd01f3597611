"""Paired comparisons: known answers on hand-made results tables (closed forms of the t distribution with 2
degrees of freedom), the degenerate cases (n = 1, missing pairs, ties, all-equal differences), pairing against
the baseline of each run's own seed, and the comparison table reproduced by a direct scipy computation."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from asc.report import compare, tables, tables_comparison
from asc.report.cells import fmt_diff, fmt_p
from asc.report.queries import MissingResultsError
from asc.report.results import normalize


def run(crit, acc, *, repeat=0, fraction=1.0, layers="C1+C2+C3", log_loss=None, base_seed=0, **extra):
    """One results row of a pruned network (fine-tuned unless ``fraction`` is None)."""
    ft = fraction is not None
    return {
        "run_id": f"{crit}-{layers}-{fraction}-{repeat}-{base_seed}-{acc}",
        "stage": "finetune" if ft else "prune",
        "dataset": "demo",
        "criterion": crit,
        "layers": layers,
        "fraction": fraction if ft else np.nan,
        "repeat": repeat,
        "finetuned": ft,
        "accuracy": acc,
        "log_loss": 2.0 - acc if log_loss is None else log_loss,
        "baseline_seed": base_seed,
        **extra,
    }


def baseline(acc, seed=0):
    return {"run_id": f"base-{seed}", "stage": "baseline", "dataset": "demo", "criterion": "none"} | {
        "layers": "",
        "seed": seed,
        "accuracy": acc,
        "log_loss": 2.0 - acc,
    }


def table(rows) -> pd.DataFrame:
    return normalize(pd.DataFrame(rows))


def pick(comp, a, b, metric="accuracy", **where):
    rows = comp[(comp["a"] == a) & (comp["b"] == b) & (comp["metric"] == metric)]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_known_answer_with_two_degrees_of_freedom():
    # Differences 2, 1, 2 pp: mean 5/3, sd 1/sqrt(3), se 1/3, t = 5. With 2 degrees of freedom the t CDF is
    # F(t) = 1/2 + t / (2 sqrt(t^2 + 2)), so p = 1 - 5/sqrt(27) and t_0.975 solves t/sqrt(t^2 + 2) = 0.95.
    df = table(
        [run("cosine", a, repeat=r) for r, a in enumerate([0.50, 0.52, 0.49])]
        + [run("l1", b, repeat=r) for r, b in enumerate([0.48, 0.51, 0.47])]
    )
    row = pick(compare.comparisons(df), "cosine", "l1")
    t975 = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))
    assert row["n"] == 3 and row["mean_diff"] == pytest.approx(5 / 3)
    assert row["p"] == pytest.approx(1 - 5 / math.sqrt(27))
    assert row["ci_low"] == pytest.approx(5 / 3 - t975 / 3) and row["ci_high"] == pytest.approx(
        5 / 3 + t975 / 3
    )
    assert row["p_holm"] == pytest.approx(row["p"]) and row["note"] == ""  # the only test of its metric
    loss = pick(compare.comparisons(df), "cosine", "l1", metric="log_loss")  # log loss 2 - acc: the mirror
    assert loss["mean_diff"] == pytest.approx(-5 / 300) and loss["p"] == pytest.approx(row["p"])


def test_one_repeat_says_n_1():
    df = table([run("cosine", 0.50), run("l1", 0.47)])
    row = pick(compare.comparisons(df), "cosine", "l1")
    assert row["n"] == 1 and row["mean_diff"] == pytest.approx(3.0)
    assert (
        np.isnan(row["ci_low"]) and np.isnan(row["p"]) and np.isnan(row["p_holm"]) and "n = 1" in row["note"]
    )
    shown = tables_comparison.comparison_table(df).iloc[0]
    assert shown["n"] == 1 and shown["p"] == "" and "n = 1" in shown["Note"]


def test_missing_pairs_use_only_matched_repeats():
    df = table(
        [run("cosine", a, repeat=r) for r, a in enumerate([0.50, 0.52, 0.49])]
        + [run("l1", 0.48, repeat=0), run("l1", 0.46, repeat=2)]  # repeat 1 of l1 is missing
        + [run("random", 0.40, repeat=0, fraction=0.5)]  # alone at its fraction: nothing to pair with
    )
    comp = compare.comparisons(df)
    row = pick(comp, "cosine", "l1")
    assert row["n"] == 2 and row["mean_diff"] == pytest.approx(((0.50 - 0.48) + (0.49 - 0.46)) * 50)
    assert row["p"] == pytest.approx(stats.ttest_rel([0.50, 0.49], [0.48, 0.46]).pvalue)
    assert set(comp.loc[comp["fraction"] == 0.5, "a"]) == set()  # no baseline either: no row at all
    # Another baseline seed does not pair with seed 0 even at the same repeat.
    other = table([run("cosine", 0.50), run("l1", 0.48, base_seed=1)])
    assert compare.comparisons(other).empty
    with pytest.raises(MissingResultsError, match="two criteria"):
        tables_comparison.comparison_table(other)


def test_ties_and_all_equal_differences():
    # Some differences zero (ties): an ordinary test; every difference the same: no variance, no test.
    ties = table(
        [run("cosine", a, repeat=r) for r, a in enumerate([0.50, 0.52, 0.49, 0.51])]
        + [run("l1", b, repeat=r) for r, b in enumerate([0.50, 0.52, 0.47, 0.50])]
    )
    row = pick(compare.comparisons(ties), "cosine", "l1")
    ref = stats.ttest_rel([0.50, 0.52, 0.49, 0.51], [0.50, 0.52, 0.47, 0.50])
    assert row["p"] == pytest.approx(ref.pvalue) and row["n"] == 4
    for shift in (0.0, 0.01):  # identical accuracies (e.g. both at chance), and a constant 1 pp gap
        equal = table(
            [run("cosine", a + shift, repeat=r) for r, a in enumerate([0.10, 0.12, 0.11])]
            + [run("l1", a, repeat=r) for r, a in enumerate([0.10, 0.12, 0.11])]
        )
        row = pick(compare.comparisons(equal), "cosine", "l1")
        assert row["mean_diff"] == pytest.approx(100 * shift) and row["n"] == 3
        assert np.isnan(row["p"]) and np.isnan(row["ci_low"]) and "all differences equal" in row["note"]


def test_baseline_of_each_run_own_seed_and_first_without_the_column():
    base = [baseline(0.50, seed=0), baseline(0.60, seed=1)]
    rows = [run("cosine", 0.49, repeat=0, base_seed=0), run("cosine", 0.58, repeat=0, base_seed=1)]
    rows += [run("cosine", 0.47, repeat=1, base_seed=0), run("cosine", 0.57, repeat=1, base_seed=1)]
    row = pick(compare.comparisons(table(base + rows)), "cosine", compare.UNPRUNED)
    assert row["n"] == 4 and row["mean_diff"] == pytest.approx(-2.25)  # -1, -2, -3, -3 pp
    assert row["p"] == pytest.approx(stats.ttest_1samp([-1, -2, -3, -3], 0).pvalue)
    assert row["note"] == ""  # two baselines: their spread is in the pairs
    # A table from before `baseline_seed` (one pruned run per repeat): compared with the first baseline (50 %).
    old = table(base + rows[1::2]).drop(columns=["baseline_seed"])
    row = pick(compare.comparisons(old), "cosine", compare.UNPRUNED)
    assert row["mean_diff"] == pytest.approx(7.5) and "one baseline" in row["note"]


def test_duplicate_runs_are_not_paired(caplog):
    df = table(
        [run("cosine", 0.50, repeat=0), run("cosine", 0.51, repeat=0)]
        + [run("l1", 0.48, repeat=0), run("random", 0.47, repeat=0)]
    )
    with caplog.at_level(logging.WARNING, logger="asc.report.compare"):
        comp = compare.comparisons(df)
    assert "cosine has several rows" in caplog.text
    assert set(comp["a"]) == {"l1"} and set(comp["b"]) == {"random"}


def test_holm_over_the_tables_tests():
    # Three comparisons (a-b, a-c, b-c) with tests; Holm by hand: sorted p times (3, 2, 1), running maximum.
    acc = {"a": [0.50, 0.53, 0.49, 0.55], "b": [0.48, 0.50, 0.48, 0.51], "c": [0.40, 0.42, 0.41, 0.44]}
    df = table([run(c, v, repeat=r) for c, vals in acc.items() for r, v in enumerate(vals)])
    comp = compare.comparisons(df)
    acc_rows = comp[comp["metric"] == "accuracy"]
    p = acc_rows["p"].to_numpy()
    order = np.argsort(p)
    expected = np.empty(3)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[i]))
        expected[i] = running
    assert acc_rows["p_holm"].to_numpy() == pytest.approx(expected)


def test_comparison_table_reproduced_by_scipy():
    rng = np.random.default_rng(7)
    crits, repeats = ["cosine", "l1", "random"], 4
    acc = {c: 0.45 + 0.02 * i + rng.normal(0, 0.01, repeats) for i, c in enumerate(crits)}
    loss = {c: 1.4 - 0.5 * acc[c] + rng.normal(0, 0.02, repeats) for c in crits}
    base = [baseline(0.47, seed=0)]
    rows = [run(c, acc[c][r], repeat=r, log_loss=loss[c][r]) for c in crits for r in range(repeats)]
    shown = tables_comparison.comparison_table(table(base + rows))
    expected = []
    for a, b in [("cosine", "l1"), ("cosine", "random"), ("l1", "random"), *[(c, "unpruned") for c in crits]]:
        for metric, values, scale in (("accuracy (pp)", acc, 100), ("log loss", loss, 1)):
            x = values[a] * scale
            y = (
                np.full(repeats, 0.47 if metric.startswith("acc") else 1.53) if b == "unpruned" else values[b]
            ) * scale
            res = stats.ttest_rel(x, y)
            ci = res.confidence_interval(0.95)
            expected.append((a, b, metric, np.mean(x - y), ci.low, ci.high, res.pvalue))
    assert len(shown) == len(expected)
    for metric in ("accuracy (pp)", "log loss"):
        mine = [e for e in expected if e[2] == metric]
        holm = dict(
            zip([e[:2] for e in mine], multipletests([e[6] for e in mine], method="holm")[1], strict=True)
        )
        for a, b, _, diff, low, high, p in mine:
            row = shown[(shown["A"] == a) & (shown["B"] == b) & (shown["Metric"] == metric)].iloc[0]
            assert row["n"] == repeats
            digits = 2 if metric.startswith("acc") else 3
            assert row[tables_comparison.DIFF] == f"{diff:+.{digits}f} ± {(high - low) / 2:.{digits}f}"
            assert row["p"] == fmt_p(p) and row["p (Holm)"] == fmt_p(holm[(a, b)])
            assert row["Sig."] == ("*" if holm[(a, b)] < 0.05 else "")
    assert any("Holm" in note for note in shown.attrs["notes"])


def test_mean_ci():
    m = compare.mean_ci([0.47, 0.48, 0.50], scale=100)
    ref = stats.t.interval(0.95, 2, loc=np.mean([47, 48, 50]), scale=stats.sem([47, 48, 50]))
    assert (
        (m.low, m.high) == pytest.approx(ref)
        and m.n == 3
        and m.std == pytest.approx(np.std([47, 48, 50], ddof=1))
    )
    one = compare.mean_ci([0.47, np.nan], scale=100)
    assert one.n == 1 and one.mean == pytest.approx(47) and np.isnan(one.low)
    assert compare.mean_ci([]).n == 0


def test_criteria_table_markers():
    # cosine beats l1 and random in every repeat by a clear margin; all three are far below the baseline.
    base = [baseline(0.60, seed=0)]
    gaps = {"cosine": 0.10, "l1": 0.02, "random": 0.0}
    noise = [0.000, 0.004, -0.003, 0.002, -0.001, 0.003]
    rows = [
        run(c, 0.40 + g + noise[r] * (1 + i), repeat=r)
        for i, (c, g) in enumerate(gaps.items())
        for r in range(6)
    ]
    t = tables.criteria_table(table(base + rows))
    cell = dict(zip(t["Criterion"], t["Acc. FT 100% (%)"], strict=True))
    assert cell["cosine"].endswith("*†") and cell["l1"].endswith("*") and cell["random"].endswith("*")
    assert "†" not in cell["l1"] and "(n = 1)" in t.loc[t["Criterion"] == "none", "Acc. no FT (%)"].iloc[0]
    assert any("†" in note for note in t.attrs["notes"])


def test_a_difference_that_rounds_to_zero_shows_no_minus_sign():
    rows = [run("cosine", 0.5, repeat=r) for r in range(2)] + [
        run("l1", 0.5 + d, repeat=r) for r, d in enumerate((1e-7, 2e-7))
    ]
    shown = tables_comparison.comparison_table(table([baseline(0.5), *rows]))
    cells = shown[tables_comparison.DIFF].tolist()
    assert "+0.00 ± 0.00" in cells and not any(c.startswith("-0.00") for c in cells)


def test_the_paired_difference_reads_as_one_signed_column_in_every_format():
    """One header, "A − B (mean ± 95% CI)", and signed values with the metric's decimals (pp: 2, nats: 3), ± the
    interval's half-width; right-aligned in Markdown, the minus typeset in LaTeX. Before: "Mean A − B" beside
    two CI columns, values of 1 to 4 decimals (6.0, -32.58, 0.6516)."""
    from asc.report.table_writers import to_latex, to_markdown

    rows = [run("cosine", a, repeat=r) for r, a in enumerate([0.50, 0.52, 0.49])] + [
        run("l1", a, repeat=r) for r, a in enumerate([0.48, 0.47, 0.48])
    ]
    shown = tables_comparison.comparison_table(table([baseline(0.6), *rows]))
    assert "Mean A − B" not in shown and "95% CI low" not in shown
    acc = shown[(shown["A"] == "cosine") & (shown["B"] == "l1") & (shown["Metric"] == "accuracy (pp)")]
    d = np.array([2.0, 5.0, 1.0])
    half = stats.t.ppf(0.975, 2) * stats.sem(d)
    assert acc[tables_comparison.DIFF].iloc[0] == f"+2.67 ± {half:.2f}"
    md = to_markdown(shown).splitlines()
    col = md[0].split(" | ").index(tables_comparison.DIFF)
    assert md[1].split(" | ")[col] == "---:"
    assert r"A $-$ B (mean $\pm$ 95\% CI)" in to_latex(shown)
    assert fmt_diff(-0.1234, float("nan"), float("nan"), 3) == "-0.123"


def test_the_comparison_csv_holds_the_interval_bounds_as_numbers(tmp_path):
    """The CSV (for machines) holds the mean difference, its 95 % interval's bounds and both p values as unrounded
    numbers in the metric's units; Markdown and LaTeX (for people) the formatted cells only. The CSV had only
    the text ``+2.67 ± 7.58`` and ``<0.001`` since the interval became one column."""
    import pandas as pd

    from asc.report.table_writers import write_table

    rows = [run("cosine", a, repeat=r) for r, a in enumerate([0.50, 0.52, 0.49])] + [
        run("l1", a, repeat=r) for r, a in enumerate([0.48, 0.47, 0.48])
    ]
    csv, md, tex = write_table(
        tables_comparison.comparison_table(table([baseline(0.6), *rows])), tmp_path / "c"
    )
    machine = pd.read_csv(csv)
    acc = machine[
        (machine["A"] == "cosine") & (machine["B"] == "l1") & (machine["Metric"] == "accuracy (pp)")
    ]
    d = np.array([2.0, 5.0, 1.0])
    ci = stats.ttest_rel(d, np.zeros(3)).confidence_interval(0.95)
    assert acc["mean_diff"].iloc[0] == pytest.approx(d.mean())
    assert (acc["ci_low"].iloc[0], acc["ci_high"].iloc[0]) == pytest.approx((ci.low, ci.high))
    assert acc["p_value"].iloc[0] == pytest.approx(stats.ttest_rel(d, np.zeros(3)).pvalue)
    assert pd.api.types.is_float_dtype(machine["ci_low"]) and pd.api.types.is_float_dtype(
        machine["p_holm_value"]
    )
    for text in (md.read_text(), tex.read_text()):
        assert "ci_low" not in text and "mean_diff" not in text and "p_value" not in text
    assert tables_comparison.DIFF in md.read_text().splitlines()[0]
