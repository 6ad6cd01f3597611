"""End to end through ``python -m asc`` on a tiny demo set: results, report, reuse of artifacts, multirun.

The tests of this module share one workspace (data, store) and run in file order: the first run builds
everything, the later ones check what is reused.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import torch
from config_fixtures import QUICK_FIGURES, TINY_DEMO_DATA

from asc.deploy.quantised import missing_packages as quantise_missing

pytestmark = pytest.mark.slow

# The tiny demo and its short recipes; the tests of other files add their own runs block and network
TINY_RECIPE = [*TINY_DEMO_DATA, "train.epochs=2", "train.select_after=0", "finetune.epochs=1"]
TINY = [
    *TINY_RECIPE,
    "runs=[{criteria:[cosine,l1,random],fractions:[0.5,1.0],repeats:1}]",
    "model.widths=[4,4,8]",  # the pipeline, not the arithmetic: a narrow network trains in a fraction of the time
    # the report measures latency (its path is under test here), at its fewest rounds (asc.deploy.latency.MIN_ROUNDS)
    # within a short budget: timings are not, and the default 15 rounds in 3 s cost seconds of CPU
    "runtime.latency.repeats=3",
    "runtime.latency.budget_s=0.1",
]
# The multirun's subject is what its jobs share (the baseline, the features) and its one report: its report as one
# small PNG a figure without latency (test_first_run_builds_everything_and_reports covers both), and no quantise
# stage (tests/test_quantised*.py cover it; test_the_log_says_what_is_built_with_k_of_n_and_an_eta counts its steps)
MULTIRUN_QUICK = [*QUICK_FIGURES, "runtime.latency.measure=false", "quantise.enabled=false"]
TABLES = ["summary", "table1", "criteria"]
FIGURES = ["fig2_closest_distance", "fig3_layer_sets", "fig4_l1_norms", "fig5_cosine_vs_l1", "fig6_fractions"]


def built(stage: str, output: str) -> list[str]:
    return re.findall(rf"\b{stage} [0-9a-f]{{12}}\b.*: built in", output)


def up_to_date(stage: str, output: str) -> list[str]:
    return re.findall(rf"\b{stage} [0-9a-f]{{12}}\b.*: up to date", output)


def tail(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if "fontTools" not in line)[-6000:]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def paths(
    ws: Path,
    store: str = "store",
    results: str = "results",
    run: str | None = "run",
    data: Path | None = None,
) -> list[str]:
    """The run's folders under ``ws``; ``data``: another ``paths.data`` (e.g. conftest's ``shared_data``);
    ``run=None``: no Hydra run folder (a job run in this process, ``asc.run`` or ``composed``)."""
    folders = [
        f"paths.data={data or ws / 'data'}",
        f"paths.store={ws / store}",
        f"paths.results={ws / results}",
    ]
    return folders + ([f"hydra.run.dir={ws / run}"] if run is not None else [])


@pytest.fixture(scope="module")
def first(run_asc, ws: Path):
    return run_asc(*paths(ws), *TINY, timeout=400)


def test_the_log_says_what_is_built_with_k_of_n_and_an_eta(first, ws: Path) -> None:
    """Issue 29: a start line, one [k/N] line per finished artifact with an ETA, never 30 s without a line
    (stdout is a pipe here: no bars, the heartbeat), and the measured rates left for the next projection."""
    out = first.output
    quantised = (
        10 if not quantise_missing() else 0
    )  # stage quantise: one step per model with the [export] extra
    n = 14 + quantised
    q = f"quantise {quantised}, " if quantised else ""
    assert re.search(
        rf"to build: {n} of {n} steps \(0 cached\): dataset 1, index 1, features 1, train 1, prune 3, "
        rf"finetune 6, {q}report 1; projected",
        out,
    ), tail(out)
    done = re.findall(rf"\[(\d+)/{n}\] .*; (?:\d+ (?:s|min)[^;]*) elapsed, ETA", out)
    assert [int(k) for k in done] == list(range(1, n + 1)), tail(out)
    stamps = [
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f")
        for m in re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", out, re.M)
    ]
    assert max(b - a for a, b in itertools.pairwise(stamps)).total_seconds() <= 30
    rates = json.loads((ws / "store" / "rates.json").read_text())["rates"]
    assert {k.split("|")[0] for k in rates} >= {"dataset", "features", "train", "prune", "finetune", "report"}


def test_first_run_builds_everything_and_reports(first, ws: Path) -> None:
    assert first.returncode == 0, tail(first.output)
    out = first.output
    for stage in ("dataset", "index", "features", "train"):
        assert len(built(stage, out)) == 1, (stage, tail(out))
    assert len(built("prune", out)) == 3 and len(built("finetune", out)) == 6

    # The summary table is printed as Markdown.
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("| dataset | stage |")]
    assert header, tail(out)
    rows = lines[header[0] + 2 : header[0] + 12]
    assert all(r.startswith("| demo |") for r in rows)
    assert any("| cosine |" in r for r in rows)

    results = pd.read_csv(ws / "results" / "results.csv")
    assert results["stage"].value_counts().to_dict() == {"baseline": 1, "prune": 3, "finetune": 6}
    assert set(results.loc[results["stage"] == "prune", "criterion"]) == {"cosine", "l1", "random"}
    tuned = results[results["stage"] == "finetune"]
    assert sorted(tuned["fraction"]) == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert results["run_id"].is_unique
    assert results["accuracy"].between(0, 1).all()

    for name in TABLES:
        for ext in (".csv", ".md", ".tex"):
            path = ws / "results" / f"{name}{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    assert "cosine" in (ws / "results" / "summary.md").read_text()
    for name in FIGURES:  # every figure has data in this run
        png, pdf = ws / "results" / f"{name}.png", ws / "results" / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf

    logs = list((ws / "run").glob("*.log"))
    assert logs and "built in" in logs[0].read_text()


def test_each_row_pools_by_its_steps_key(first, ws: Path) -> None:
    """Issue 25 §6: what the report pools a results row by (asc.report.rows.pooling_key, read off the CSV) is what
    planning derives from the step that wrote it (asc.report.rows.step_pooling_key): the pooling refusal of
    asc/pipeline/plan.py compares the two, so a drift would pool unrelated rows or refuse a rerun of the same job."""
    from config_fixtures import composed

    from asc.pipeline.plan import make_plan
    from asc.report.rows import pooling_key, step_pooling_key

    assert first.returncode == 0, tail(first.output)
    steps = {s.id: s for s in make_plan(composed(*paths(ws, run=None), *TINY))}
    rows = pd.read_csv(ws / "results" / "results.csv", dtype=str, keep_default_na=False).to_dict("records")
    assert len(rows) == 10
    for row in rows:
        assert pooling_key(row) == step_pooling_key(steps[row["run_id"]]), row["run_id"]


def test_each_model_artifacts_disk_estimate_is_what_it_wrote(first, ws: Path) -> None:
    """The disk check's estimate per artifact (asc.core.disk.model_artifact_bytes) against the bytes the run left:
    a pruned network's artifact holds its model only, so its estimate is the published model's; a fine-tuned
    one's covers its peak, the resume checkpoint (4 copies, removed once published) beside the model (5 copies at
    the pruned size: 14× what it leaves before its framing was measured, 40× allowed; 6.4× now)."""
    from config_fixtures import composed

    from asc.pipeline.plan import by_stage, make_plan
    from asc.pipeline.stages import finetune, prune

    assert first.returncode == 0, tail(first.output)
    cfg = composed(*paths(ws, run=None), *TINY)
    grouped = by_stage(make_plan(cfg))

    def written(stage: str, key: str) -> int:
        return sum(f.stat().st_size for f in (ws / "store" / stage / key).rglob("*") if f.is_file())

    for stage, module, copies, most in (("prune", prune, 1, 2), ("finetune", finetune, 5, 7)):
        for step, need in module.check(grouped[stage], cfg):
            size = written(stage, step.key)
            model = (ws / "store" / stage / step.key / "model.pt").stat().st_size
            assert size + (copies - 1) * model <= need.bytes <= most * size, (stage, size, model, need.bytes)


def test_same_command_again_rebuilds_nothing(first, run_asc, ws: Path) -> None:
    assert first.returncode == 0
    rows_before = pd.read_csv(ws / "results" / "results.csv")
    again = run_asc(*paths(ws, run="run2"), *TINY, timeout=300)
    assert again.returncode == 0, tail(again.output)
    out = again.output
    assert ": built in" not in out, tail(out)
    assert up_to_date("train", out) and re.search(r"\btrain \w+ \(baseline seed 0\): up to date", out)
    for stage, n in {"dataset": 1, "index": 1, "features": 1, "prune": 3, "finetune": 6}.items():
        assert len(up_to_date(stage, out)) == n, (stage, tail(out))
    assert again.seconds < first.seconds
    assert "| cosine |" in out  # the report is still printed
    # drawn from the same results table: not written again (report.json), and counted as cached
    assert re.search(r"report \(tables and figures\): up to date in .*, nothing to do", out), tail(out)
    assert "report: wrote" not in out and "to build: nothing;" in out, tail(out)
    rows_after = pd.read_csv(ws / "results" / "results.csv")
    assert len(rows_after) == len(rows_before) == 10
    before = rows_before.set_index("run_id")["accuracy"]
    after = rows_after.set_index("run_id")["accuracy"]
    pd.testing.assert_series_equal(after.sort_index(), before.sort_index())


def test_train_change_reuses_the_features(first, ws: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In this process (``asc.run``, the CLI's job without Hydra's run folder): what is reused is the store's
    business, not the command's process; its log lines are the CLI's."""
    import asc

    assert first.returncode == 0
    with caplog.at_level(logging.INFO):
        asc.run([*paths(ws, results="results_lr", run=None), *TINY, "train.lr=0.002", "stage=train"])
    out = caplog.text
    assert re.search(r"\bfeatures \w+ \(logmel40x500\): up to date", out), tail(out)
    assert not re.search(r"\bfeatures \w+ .*: built", out)
    assert up_to_date("dataset", out)
    assert len(built("train", out)) == 1
    assert not built("prune", out) and not up_to_date("prune", out)  # stage=train stops there


def test_multirun_trains_the_baseline_once(first, run_asc, ws: Path) -> None:
    assert first.returncode == 0
    # A fresh store: the baseline must be trained, once, by the first job; the data are reused.
    result = run_asc(
        "-m",
        *paths(ws, store="store_mr", results="results_mr"),
        f"hydra.sweep.dir={ws / 'sweep'}",
        *TINY,
        *MULTIRUN_QUICK,
        "prune=cosine,l1",
    )
    assert result.returncode == 0, tail(result.output)
    out = result.output
    # the jobs skip the report; it is written once, after the last job, and covers both
    assert out.count("| dataset | stage |") == 1, tail(out)
    assert (ws / "results_mr" / "summary.md").is_file()
    assert "#0 : " in out and "#1 : " in out  # Hydra launched two jobs
    assert len(built("train", out)) == 1, tail(out)
    assert len(up_to_date("train", out)) == 1, tail(out)
    assert len(up_to_date("features", out)) == 2 and not built("features", out)
    results = pd.read_csv(ws / "results_mr" / "results.csv")
    assert results["stage"].value_counts().to_dict() == {"baseline": 1, "prune": 2, "finetune": 4}
    assert set(results.loc[results["stage"] == "prune", "criterion"]) == {"cosine", "l1"}
    assert sorted(p.name for p in (ws / "sweep").iterdir() if p.is_dir()) == ["0", "1"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prune_stage_on_cuda(run_asc, ws: Path) -> None:
    result = run_asc(
        *paths(ws, store="store_cuda", results="results_cuda", run="run_cuda"),
        *TINY,
        "runtime.device=cuda",
        "stage=prune",
    )
    assert result.returncode == 0, tail(result.output)


def test_training_in_a_new_process_reproduces_the_baseline(first, run_asc, ws: Path) -> None:
    """Same config, fresh store, new process: the baseline's weights are bit-identical (seeded init included)."""
    assert first.returncode == 0, tail(first.output)
    again = run_asc(
        *paths(ws, store="store_repro", results="results_repro", run="run_repro"), *TINY, "stage=train"
    )
    assert again.returncode == 0, tail(again.output)
    (b,) = (ws / "store_repro" / "train").glob("*/model.pt")
    a = ws / "store" / "train" / b.parent.name / "model.pt"  # same config, same key
    sa = torch.load(a, weights_only=True)["state_dict"]
    sb = torch.load(b, weights_only=True)["state_dict"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_dry_run_prints_the_plan_and_builds_nothing(
    first, ws: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """What the dry run lists is what the real run built: same keys, all cached; a new seed: only training missing.
    In this process (``asc.run``: the CLI's job, its plan printed on stdout as the command prints it)."""
    import asc

    assert first.returncode == 0
    capsys.readouterr()
    asc.run([*paths(ws, run=None), *TINY, "dry_run=true"])
    output = capsys.readouterr().out
    lines = [
        line.split()
        for line in output.splitlines()
        if line.split()[:1] in (["dataset"], ["index"], ["features"], ["train"], ["prune"], ["finetune"])
    ]
    assert len(lines) == 1 + 1 + 1 + 1 + 3 + 6
    assert all(line[2] == "cached" for line in lines), output
    store = {p.parent.name + "/" + p.name for p in (ws / "store").glob("*/*") if p.is_dir()}
    planned = {f"{line[0]}/{line[1]}" for line in lines if line[0] not in ("dataset", "features")}
    assert planned <= store  # (the store also holds the train.lr=0.002 baseline of an earlier test)
    with caplog.at_level(logging.INFO):
        asc.run([*paths(ws, run=None), *TINY, "dry_run=true", "seed=5"])
    fresh = capsys.readouterr()
    status = {
        line.split()[0]: line.split()[2]
        for line in fresh.out.splitlines()
        if line.split()[:1] in (["features"], ["index"], ["train"])
    }
    assert status == {"index": "cached", "features": "cached", "train": "missing"}, fresh.out
    assert not built("train", fresh.out + caplog.text)
