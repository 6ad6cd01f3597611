"""Progress in a log (issue 29): bars that count without drawing, the heartbeat that breaks a long silence, the
job's k/N lines with an ETA, the rates a run leaves for the next projection, and the dry run's cost lines."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from config_fixtures import composed
from tqdm.auto import tqdm

from asc.core.progress import Heartbeat, LogBar, duration, open_bars, progress_bar
from asc.pipeline.dryrun import format_plan
from asc.pipeline.eta import BENCHMARK, Projection, load_rates
from asc.pipeline.job_progress import JobProgress
from asc.pipeline.plan import check_plan, make_plan


def _cfg(tmp: Path, *overrides: str) -> dict[str, Any]:
    return composed(
        f"paths.data={tmp}/data", f"paths.store={tmp}/store", f"paths.results={tmp}/results", *overrides
    )


def test_a_bar_draws_on_a_terminal_and_counts_in_a_log() -> None:
    drawn = progress_bar(total=3, desc="x", show=True, disable=True)
    assert isinstance(drawn, tqdm)
    drawn.close()
    with progress_bar(total=4, desc="demo audio", unit="clip", show=False) as bar:
        assert isinstance(bar, LogBar)
        bar.update(2)
        assert re.fullmatch(r"demo audio 2/4 clip \(50 %\), [\d.,]+ clip/s, ETA \d+ s", bar.status())
        assert "demo audio 2/4" in open_bars()
    assert open_bars() == ""  # closed: no longer reported
    with progress_bar(total=3 << 20, initial=1 << 20, desc="download", unit="B", show=False) as b:
        assert b.status().startswith("download 1.0 MiB/3.0 MiB (33 %)")
    assert list(progress_bar(range(3), show=False, desc="epoch")) == [0, 1, 2] and open_bars() == ""


def test_duration() -> None:
    assert [duration(s) for s in (4.4, 65, 7260, 3 * 86400 + 7200)] == [
        "4 s",
        "1 min 05 s",
        "2 h 01 min",
        "3 d 2 h",
    ]


def test_the_heartbeat_breaks_a_silence(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with Heartbeat(lambda: "working: stage train, 3/9 steps done", silence_s=0.3):
        with progress_bar(range(5), show=False, desc="2 run(s), epoch 1/4:", unit="batch") as bar:
            for _ in bar:
                time.sleep(0.25)
    beats = [r.getMessage() for r in caplog.records if r.name == "asc.core.progress"]
    assert beats, "no line in 1.25 s of silence"
    assert all(b.startswith("working: stage train, 3/9 steps done") for b in beats)
    assert any("2 run(s), epoch 1/4:" in b and "batch/s" in b for b in beats)
    caplog.clear()
    with Heartbeat(lambda: "never", silence_s=0.3, enabled=False):  # bars drawn on a terminal: no heartbeat
        time.sleep(0.5)
    assert not caplog.records


def test_finished_artifacts_log_k_of_n_with_an_eta_and_leave_their_rates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cfg = _cfg(tmp_path)
    steps = make_plan(cfg)
    job = JobProgress(steps, cfg, device="cpu")
    assert job.start_line().startswith(
        f"to build: {len(steps)} of {len(steps)} steps (0 cached): dataset 1, index 1"
    )
    assert "train, finetune from the benchmark's figures" in job.start_line()
    tunes = [s for s in steps if s.stage == "finetune"]
    job.begin("finetune")
    time.sleep(0.05)
    job.finished(tunes[0])
    job.finished(tunes[0])  # once only
    lines = [r.getMessage() for r in caplog.records if r.name == "asc.core.progress"]
    assert len(lines) == 1 and lines[0].startswith(f"[1/{len(steps)}] built finetune {tunes[0].key}")
    assert re.search(r"ETA \d+ (s|min)", lines[0]) and "no rate measured yet" in lines[0]  # the dataset's
    job.end("finetune", 2.0)
    assert f"[{len(tunes)}/{len(steps)}] up to date: finetune" in caplog.records[-1].getMessage()
    units = sum(job.projection.units(s) for s in tunes)
    stored = load_rates(cfg)
    assert stored["device"] == "cpu"
    (entry,) = [v for k, v in stored["rates"].items() if k.startswith("finetune|dcase21|logmel40x500|cpu")]
    assert entry["s_per_unit"] == pytest.approx(2.0 / units)
    again = Projection(cfg)  # the next job (or dry run) projects fine-tuning from this machine's rate
    assert again.rate("finetune") == (pytest.approx(2.0 / units), "measured")
    assert again.rate("train") == (
        pytest.approx(2.0 / units),
        "measured",
    )  # fine-tuning's, until it has its own
    assert again.rate("prune") == (None, "")


def test_a_demo_rate_projects_the_real_grid(tmp_path: Path) -> None:
    """Training rates are kept per network, features and device, not per dataset."""
    cfg = _cfg(tmp_path)
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "rates.json").write_text(
        json.dumps({"device": "cpu", "rates": {"train|dcase21|logmel40x500|cpu": {"s_per_unit": 0.02}}})
    )
    paper = _cfg(tmp_path, "experiment=paper")
    assert Projection(paper).rate("train") == (0.02, "measured")
    assert Projection(cfg, "cuda").rate("train") == (BENCHMARK["cuda"], "benchmark")


def test_the_benchmark_rate_scales_with_the_networks_macs_per_clip(tmp_path: Path) -> None:
    """Unmeasured, VGGish_Net on patches projects from the benchmark CNN's rate × its MACs per clip (~56×: 19
    patches of 96 × 64), not the CNN's own rate; the DCASE CNN's is the benchmark's unscaled."""
    from asc.pipeline.eta import BENCHMARK_MACS, clip_macs

    assert clip_macs(_cfg(tmp_path)) == BENCHMARK_MACS
    assert Projection(_cfg(tmp_path), "cpu").rate("train") == (BENCHMARK["cpu"], "benchmark")
    vggish = _cfg(tmp_path, "experiment=nystrom_vggish", "dataset=demo16k")
    rate, source = Projection(vggish, "cpu").rate("finetune")
    assert source == "benchmark" and rate == pytest.approx(
        BENCHMARK["cpu"] * clip_macs(vggish) / BENCHMARK_MACS
    )
    assert rate > 50 * BENCHMARK["cpu"]
    steps = make_plan(vggish)
    assert "× 56.2 for model=vggish_asc's MACs per clip" in Projection(vggish, "cpu").describe(steps)


def test_the_paper_dry_run_says_download_disk_and_time(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "experiment=paper")
    steps = make_plan(cfg)
    needs = check_plan(steps, cfg, upto="report").needs
    text = format_plan(steps, cfg, upto="report", needs=needs)
    tail = text.splitlines()[-4:]
    assert re.fullmatch(
        r"download: 25\.5 GiB \(27\.4 GB\) in 18 archive\(s\) into .*downloads/tau2020mobile", tail[0]
    ), tail
    assert re.fullmatch(
        r"disk: [\d.]+ GiB on the file system at /\S* \(18 zip\(s\) still to download.*\)", tail[1]
    )
    assert re.fullmatch(
        r"time: projected (\d+ d \d+ h|[\d ]+h [\d ]+min) on cpu: train, finetune from the benchmark's.*",
        tail[2],
    )
    assert "dataset, index, features, prune, quantise, report not projected" in tail[2]
    assert tail[3] == "dry run: nothing was built."


def test_an_overrun_stage_says_by_how_much_not_eta_zero(tmp_path: Path) -> None:
    steps = make_plan(_cfg(tmp_path))
    job = JobProgress(steps, _cfg(tmp_path), device="cpu")
    job.begin("finetune")
    job.last -= 1e6  # the stage has run far past its projection
    text = job.eta()
    assert re.match(
        r"ETA unknown: stage finetune runs \d+ (s|min|h|d).* past its projection with \d+ step", text
    ), text
    assert "ETA > 0 s" not in text


def test_rates_carry_over_to_another_dataset_of_the_same_shape(tmp_path: Path) -> None:
    """Stages whose work per unit is fixed by the network and its input (pruning, teacher logits, quantised
    evaluation) keep their rates per model and features, so a run on the demo projects them on another dataset
    with the same network and features; the dataset's own stages are not reused, and the dry run says why."""
    demo = _cfg(tmp_path)
    (tmp_path / "store").mkdir()
    measured = {"prune": 0.5, "teacher": 0.01, "quantise": 0.02, "dataset": 30.0, "index": 1.0}
    rates = {f"{s}|demo|cpu": {"s_per_unit": 9.9} for s in measured}  # as kept per dataset before
    from asc.pipeline.eta import rate_key

    rates |= {rate_key(s, demo, "cpu"): {"s_per_unit": r} for s, r in measured.items()}
    (tmp_path / "store" / "rates.json").write_text(json.dumps({"device": "cpu", "rates": rates}))
    other = _cfg(tmp_path, "dataset=standin")
    assert (other["model"]["name"], other["features"]["name"]) == (
        demo["model"]["name"],
        demo["features"]["name"],
    )
    p = Projection(other)
    assert [p.rate(s) for s in ("prune", "teacher", "quantise")] == [
        (0.5, "measured"),
        (0.01, "measured"),
        (0.02, "measured"),
    ]
    assert p.rate("dataset") == (None, "") and p.elsewhere("dataset") == ["demo"]
    steps = [s for s in make_plan(other) if s.stage in ("dataset", "prune", "teacher")]
    said = p.describe(steps)
    assert "prune, teacher from rates this machine measured before" in said
    assert "dataset not projected on standin (measured on demo only; their work is the dataset's own" in said
    from asc.data.kinds import kind_of

    clips = kind_of(other["dataset"]).train_clips(other["dataset"])  # teacher logits: seconds per clip
    assert p.units(next(s for s in steps if s.stage == "teacher")) == clips > 1


def test_iterative_pruning_steps_count_their_fine_tuning(tmp_path: Path) -> None:
    """A schedule step that fine-tunes before its cut (``+prune.schedule=3``: steps 2 and 3) is a training run:
    the start line and the dry run say how many, and the projection adds its example-epochs at the finetune rate
    (the prune rate measured on such steps is what is left of their time)."""
    from asc.pipeline.eta import tuned_units

    cfg = _cfg(tmp_path, "prune=l1", "prune.ratio=0.5", "+prune.schedule=3")
    steps = make_plan(cfg)
    prunes = [s for s in steps if s.stage == "prune"]
    assert len(prunes) == 3
    tuned = tuned_units(cfg)
    assert [tuned(s) > 0 for s in prunes] == [False, True, True]
    epochs = prunes[1].config["schedule"]["finetune"]["epochs"]
    assert tuned(prunes[1]) == pytest.approx(_pool(cfg) * epochs)
    job = JobProgress(steps, cfg, device="cpu")
    assert "prune 3 (2 after a short fine-tune)" in job.start_line()
    p = job.projection
    rate, _ = p.rate("finetune")
    assert p.seconds(prunes)[0] == pytest.approx(
        rate * (tuned(prunes[1]) + tuned(prunes[2]))
    )  # prune: no rate
    assert "finetune from the benchmark" in p.describe(prunes)
    job.end("prune", 3.0 + p.tuning_seconds(prunes[1]) + p.tuning_seconds(prunes[2]))
    assert load_rates(cfg)["rates"]["prune|dcase21|logmel40x500|cpu"]["s_per_unit"] == pytest.approx(1.0)
    text = format_plan(steps, cfg, upto="report")
    assert "prune 3 (0 cached; 2 after a short fine-tune)" in text
    one_shot = make_plan(_cfg(tmp_path, "prune=l1", "prune.ratio=0.5"))
    assert "after a short fine-tune" not in format_plan(one_shot, cfg, upto="report")


def _pool(cfg: dict[str, Any]) -> int:
    from asc.pipeline.plan import approx_train_examples

    return approx_train_examples(cfg)


def test_per_device_training_is_projected_on_a_fresh_store(tmp_path: Path) -> None:
    """The per-device models train (example-epochs of the fine-tuned subset, the perdevice recipe's epochs): on a
    fresh store they are projected from the benchmark as train and finetune are, their time in the total (they
    were left out, 'not projected'); a rate kept per clip before (no unit) is not read as per example-epoch."""
    cfg = _cfg(tmp_path, "runs=[{criteria:[l1],fractions:[1.0],per_device:true}]", "runtime.device=cpu")
    steps = make_plan(cfg)
    devices = [s for s in steps if s.stage == "perdevice"]
    p = Projection(cfg)
    assert devices and p.rate("perdevice") == (BENCHMARK["cpu"], "benchmark")
    assert p.units(devices[0]) == _pool(cfg) * cfg["perdevice"]["epochs"]
    assert p.seconds(devices) == (
        pytest.approx(BENCHMARK["cpu"] * p.units(devices[0])),
        {"perdevice": "benchmark"},
        [],
    )
    text = format_plan(steps, cfg, upto="report")
    (time_line,) = [line for line in text.splitlines() if line.startswith("time:")]
    assert "train, finetune, perdevice from the benchmark" in time_line and "perdevice not" not in time_line
    (tmp_path / "store").mkdir()
    key = "perdevice|dcase21|logmel40x500|cpu"
    (tmp_path / "store" / "rates.json").write_text(json.dumps({"rates": {key: {"s_per_unit": 0.5}}}))
    assert Projection(cfg).rate("perdevice") == (BENCHMARK["cpu"], "benchmark")  # per clip: not this unit
    job = JobProgress(steps, cfg, device="cpu")
    job.end("perdevice", 3.0)
    stored = load_rates(cfg)["rates"][key]
    assert stored["unit"] == "example-epoch" and stored["s_per_unit"] == pytest.approx(
        3.0 / p.units(devices[0])
    )
    assert Projection(cfg).rate("perdevice") == (pytest.approx(stored["s_per_unit"]), "measured")
