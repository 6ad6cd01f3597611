"""A report drawn from the same inputs is not written again (asc/report/report_record.py, ``report.json``): a second
write leaves every file as it was; new rows, a figure deleted or resized, other figure options, another training
history, other code, an architecture whose latency is still to be measured or a write killed half-way write it again."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from results_fixtures import make_latency, make_results, with_histories

from asc.deploy import latency
from asc.report import report_record, results
from asc.report import write as report
from asc.report.figure_output import FigureOutput

SMALL = FigureOutput(formats=("png",), dpi=40)  # what is written, not print quality
RECORD = report_record.RECORD_FILE


@pytest.fixture(scope="module")
def _drawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results table with training histories (``results/``, ``store/``) and its report, drawn once per module:
    one table besides the summary, and one figure, the training curves (they read the histories);
    tests/test_report.py and tests/test_figures.py test the others."""
    root = tmp_path_factory.mktemp("drawn")
    with pytest.MonkeyPatch.context() as mp:
        _one_table_and_the_curves(mp)
        out = root / "results"
        df = with_histories(make_results(repeats=1), root / "store")
        results.append(out / "results.csv", df.to_dict("records"))
        update(out)
    return root


def _one_table_and_the_curves(mp: pytest.MonkeyPatch) -> None:
    curves = report.figures.FIGURES["training_curves"]
    mp.setattr(report.figures, "FIGURES", {"training_curves": curves})
    mp.setattr(report, "TABLES", {"table1": report.TABLES["table1"]})


@pytest.fixture
def folder(_drawn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the module's results folder, its report written and up to date (the record's paths are relative:
    a copied folder is the same report; its rows' histories stay the module's, which no test changes)."""
    import shutil

    _one_table_and_the_curves(monkeypatch)
    return Path(shutil.copytree(_drawn / "results", tmp_path / "results", copy_function=shutil.copy2))


@pytest.fixture
def own_histories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results folder of this test's own, with histories of its own in ``tmp_path/store``, no report yet."""
    _one_table_and_the_curves(monkeypatch)
    out = tmp_path / "results"
    df = with_histories(make_results(repeats=1), tmp_path / "store")
    results.append(out / "results.csv", df.to_dict("records"))
    return out


def update(out: Path, **kwargs) -> tuple[dict[str, list[Path]], bool]:
    return report.update_report(out / "results.csv", out, **{"figures": SMALL, **kwargs})


def stamps(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_a_second_report_from_the_same_inputs_writes_nothing(
    own_histories: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = own_histories
    written, fresh = update(folder)
    assert fresh and set(written) == {"summary", "table1", "training_curves"}
    record = json.loads((folder / RECORD).read_text())
    assert record["files"]["training_curves"] == [
        {"path": "training_curves.png", "size": (folder / "training_curves.png").stat().st_size}
    ]
    before = stamps(folder)
    with caplog.at_level(logging.INFO, logger="asc.report.write"):
        again, fresh = update(folder)
    assert not fresh and again == written
    assert stamps(folder) == before  # not one file touched, the record included
    assert f"report (tables and figures): up to date in {folder}, nothing to do" in caplog.text
    assert report.is_current(folder / "results.csv", folder, figures=SMALL)
    assert report.write_report(folder / "results.csv", folder, figures=SMALL) == written


def _new_row(out: Path) -> None:
    row = pd.read_csv(out / "results.csv").iloc[[0]].assign(run_id="one-more", accuracy=0.5)
    results.append(out / "results.csv", row.to_dict("records"))


def _resize(path: Path) -> None:
    path.write_text(path.read_text() + "\n")


CHANGES: dict[str, tuple[Callable[[Path], None], dict]] = {
    "new rows": (_new_row, {}),
    "a figure deleted": (lambda out: (out / "training_curves.png").unlink(), {}),
    "a table of another size": (lambda out: _resize(out / "table1.md"), {}),
    "the record removed (a write killed half-way)": (lambda out: (out / RECORD).unlink(), {}),
    "an unreadable record": (lambda out: (out / RECORD).write_text("{"), {}),
    "another resolution": (lambda out: None, {"figures": FigureOutput(formats=("png",), dpi=50)}),
    "other formats": (lambda out: None, {"figures": FigureOutput(formats=("png", "svg"), dpi=40)}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_anything_the_report_is_drawn_from_changed_writes_it_again(folder: Path, change: str) -> None:
    act, options = CHANGES[change]
    act(folder)
    written, fresh = update(folder, **options)
    assert fresh, change
    assert all(p.is_file() for paths in written.values() for p in paths)
    assert update(folder, **options)[1] is False  # and then it is up to date again


def test_another_training_history_writes_it_again(own_histories: Path) -> None:
    update(own_histories)
    _resize(own_histories.parent / "store" / "demo-base-0" / "metrics.json")
    assert update(own_histories)[1]
    assert update(own_histories)[1] is False


def test_other_code_writes_it_again(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited or upgraded figure or table function: the digest of asc's sources differs."""
    monkeypatch.setattr(report_record, "code_digest", lambda: "another version of asc")
    assert update(folder)[1]
    monkeypatch.setattr(report_record, "LIBRARIES", (*report_record.LIBRARIES, "pytest"))
    assert update(folder)[1]  # another set of libraries (or versions)


def test_a_write_that_fails_half_way_leaves_no_record(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _new_row(folder)

    def killed(df, stem):
        raise KeyboardInterrupt

    curves = report.figures.FIGURES["training_curves"]
    monkeypatch.setitem(report.figures.FIGURES, "training_curves", killed)
    with pytest.raises(KeyboardInterrupt):
        update(folder)
    assert not (folder / RECORD).exists()  # the tables are new, the figure is not
    monkeypatch.setitem(report.figures.FIGURES, "training_curves", curves)
    assert update(folder)[1] and (folder / RECORD).is_file()


def test_an_architecture_to_measure_writes_it_again(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency measured once and reused: while ``latency.csv`` covers every architecture, backend and batch size
    the report is up to date; a batch size it lacks is measured, and the report written again."""
    df = make_results(repeats=1)
    calls = []

    def fake_measure(specs, *, backends, batch_sizes, **options):
        calls.append(batch_sizes)
        table = make_latency(df)
        wanted = table["model_spec"].isin(set(specs)) & table["batch"].isin(batch_sizes)
        return table[wanted & table["backend"].isin(backends)].assign(machine=latency.machine_label())

    monkeypatch.setattr(latency, "measure", fake_measure)
    options = {"measure": True, "backends": ["cpu"], "batch_sizes": [1], "repeats": 3, "budget_s": 0.1}
    assert update(folder, latency=options)[1] and calls == [[1]]
    assert update(folder, latency=options)[1] is False and update(folder, latency=None)[1] is False
    assert update(folder, latency={**options, "batch_sizes": [1, 64]})[1] and calls == [[1], [1, 64]]
    assert update(folder, latency=options)[1] is False  # [1, 64] covers [1]: reused, as written
    with pytest.raises(latency.ConfigError, match="runtime.latency.repeats"):
        update(folder, latency={**options, "repeats": 0})  # refused even when the report is up to date


def test_an_up_to_date_report_is_cached_in_the_jobs_start_line(own_histories: Path, tmp_path: Path) -> None:
    """With nothing else to build, the job's start line counts a report that is up to date as cached."""
    from config_fixtures import composed

    from asc.pipeline.job_progress import JobProgress
    from asc.pipeline.stages import report as stage

    cfg = composed(
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        "runtime.latency.measure=false",
        "runtime.figures.formats=[png]",
        "runtime.figures.dpi=40",
    )
    steps = stage.plan(cfg, {"train": [], "prune": [], "finetune": [], "perdevice": []})
    assert (
        JobProgress(steps, cfg, device="cpu")
        .start_line()
        .startswith("to build: 1 of 1 steps (0 cached): report 1")
    )
    assert stage.write(own_histories, None, figures=cfg["runtime"]["figures"])
    assert stage.current(steps, cfg)
    assert JobProgress(steps, cfg, device="cpu").start_line().startswith("to build: nothing;")
    assert not stage.write(own_histories, None, figures=cfg["runtime"]["figures"])
