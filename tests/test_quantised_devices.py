"""Accuracy at deployment precision of per-device models (asc/pipeline/stages/quantise_devices.py): the per_device
row's fp32/fp16/int8 columns are the routed evaluation of the stored files (each clip by its device's file, unseen
devices by the general one), checked with onnxruntime alone; the size columns sum every file of a precision."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from config_fixtures import NO_FIGURES, composed
from test_quantised import _independent_logits, needs_ort

from asc.deploy import quantised


@needs_ort
def test_a_quantise_step_per_perdevice_artifact_keyed_like_the_others() -> None:
    from asc.pipeline.plan import make_plan

    args = ["runs=[{criteria:[l1],fractions:[1.0],repeats:1,per_device:true}]"]
    steps = make_plan(composed(*args))
    (device,) = [s for s in steps if s.stage == "perdevice"]
    (q,) = [s for s in steps if s.stage == "quantise" and s.upstream[0].id == device.id]
    assert [u.stage for u in q.upstream] == ["perdevice", "features", "index"]
    assert q.config == next(s.config for s in steps if s.stage == "quantise" and s is not q)
    other = make_plan(composed(*args, "quantise.calibration_clips=64"))
    assert q.key not in {s.key for s in other if s.stage == "quantise"}


@needs_ort
def test_the_per_device_plan_line_says_how_many_files_it_writes() -> None:
    """A per-device artifact's quantise step writes three files per model (the general one and each device with
    training clips): its plan line says how many, exact where the pool is known and the whole of it is used
    (``up to`` for a drawn subset). It said ``fp16+int8`` alone, as a single model's step does."""
    from asc.data.fractions import pool_of
    from asc.pipeline.plan import make_plan
    from asc.pipeline.stages import index
    from asc.pipeline.stages.perdevice import KNOWN_DEVICES

    cfg = composed("runs=[{criteria:[l1],fractions:[1.0,0.5],repeats:1,per_device:true}]")
    steps = [s for s in make_plan(cfg) if s.stage == "quantise" and s.upstream[0].stage == "perdevice"]
    lines = {s.upstream[0].args["fraction"]: s.label for s in steps}
    pool = pool_of(index.preview(cfg), cfg["finetune"]["train_on"])
    devices = len(set(KNOWN_DEVICES) & set(pool["device"]))
    assert 0 < devices < len(KNOWN_DEVICES)  # the demo records with some of the known devices only
    said = f"{3 * (1 + devices)} ONNX files (the general model and {devices} device models, each fp32, fp16 and int8)"
    assert lines[1.0].endswith(f"per device fp16+int8: {said}")
    assert lines[0.5].endswith(f"per device fp16+int8: up to {said}")
    # the disk plan counts the same models: the general one and each device with training clips (it counted
    # every known device)
    from asc.pipeline.stages import quantise

    single = [s for s in make_plan(cfg) if s.stage == "quantise" and s.upstream[0].stage != "perdevice"]
    need = {s.id: n.bytes for s, n in quantise.check([*steps, *single], cfg)}
    assert {need[s.id] for s in steps} == {need[single[0].id] * (1 + devices)}


@pytest.mark.slow
@needs_ort
def test_per_device_row_is_the_routed_evaluation_of_the_files(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In this process (``asc.run``): the files and rows are under test, not the command's process."""
    from test_cli import TINY_RECIPE, paths

    import asc
    from asc.frontend.splits import load_splits
    from asc.pipeline.chain import artifact_dir
    from asc.pipeline.plan import make_plan

    args = [
        *paths(tmp_path, data=shared_data, run=None),
        *TINY_RECIPE,
        "runs=[{criteria:[l1],fractions:[1.0],repeats:1,per_device:true}]",
        "perdevice.epochs=1",
        "model.widths=[4,4,8]",
    ]
    with caplog.at_level(logging.INFO):
        asc.run([*args, "runtime.latency.measure=false", *NO_FIGURES])
    # no line twice in one run: the index's clip count (logged at each preview) and the devices without
    # training clips (logged again by the quantise step) were
    said = Counter(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert any(line.startswith("to build: ") for line in said)  # the job's lines, each once
    assert [line for line, n in said.items() if n > 1] == []
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    (row,) = rows[rows["stage"] == "per_device"].to_dict("records")
    cfg = composed(*args)
    (step,) = [s for s in make_plan(cfg) if s.stage == "quantise" and s.upstream[0].stage == "perdevice"]
    folder = artifact_dir(cfg["paths"], "quantise", step.key)
    models = artifact_dir(cfg["paths"], "perdevice", step.upstream[0].key)
    devices = sorted(p.stem.removeprefix("device_") for p in models.glob("device_*.pt"))
    assert devices and sorted(p.name for p in folder.glob("device_*")) == [f"device_{d}" for d in devices]
    feats, idx = (artifact_dir(cfg["paths"], u.stage, u.key) for u in step.upstream[1:])
    ev = load_splits(feats, idx).evaluate
    x, y, clip_devices = ev.x.numpy(), ev.y.numpy(), ev.rows["device"].astype(str).to_numpy()
    assert set(clip_devices) - set(devices) and set(clip_devices) & set(devices)  # both routes are taken
    for p in quantised.PRECISIONS:
        files = {d: folder / f"device_{d}" / f"model_{p}.onnx" for d in devices}
        general = folder / "general" / f"model_{p}.onnx"
        pred = _independent_logits(general, x).argmax(1)
        for d, f in files.items():
            rows_d = np.flatnonzero(clip_devices == d)
            pred[rows_d] = _independent_logits(f, x[rows_d]).argmax(1)
        assert row[f"accuracy_{p}"] == pytest.approx(float((pred == y).mean()))
        total = general.stat().st_size + sum(f.stat().st_size for f in files.values())
        assert row[f"onnx_bytes_{p}"] == total
        assert {f"class_avg_accuracy_{p}", f"log_loss_{p}"} <= set(row)
    assert row["accuracy_fp32"] == pytest.approx(row["accuracy"], abs=1.5 / len(y))
