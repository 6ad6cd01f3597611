"""No command writes over a file the user named as input, nor over an existing file it did not create, unless
told (``--force``): asc-export, the GPU check's ``--out``, the report's results folder (asc/core/outputs.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import composed
from keras_fixtures import keras_layers, write_keras_h5
from model_fixtures import randomised_model

from asc.core.errors import InputError
from asc.core.outputs import REPORT_STEMS, check_results_folder
from asc.deploy import export
from asc.nets.model import save_model
from asc.pipeline.plan import check_plan, make_plan

REPO = Path(__file__).resolve().parents[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["h5", "pt"])
def test_export_never_writes_over_its_input(tmp_path, capsys, kind):
    src = tmp_path / f"m.{kind}"
    if kind == "h5":
        write_keras_h5(src, keras_layers(randomised_model()))
    else:
        save_model(randomised_model(), src)
    before = digest(src)
    for out in (src, tmp_path / "." / src.name):  # the same file, however it is spelt
        for force in ([], ["--force"]):
            assert export.main([str(src), str(out), "--exporter", "torchscript", *force]) == 2
            assert digest(src) == before
            assert "is the input" in capsys.readouterr().err


def test_export_refuses_an_existing_file_unless_forced(tmp_path, capsys):
    pytest.importorskip("onnx")
    src, out = tmp_path / "model.pt", tmp_path / "notes.onnx"
    save_model(randomised_model(), src)
    out.write_text("the user's own file")
    assert export.main([str(src), str(out), "--exporter", "torchscript"]) == 2
    assert out.read_text() == "the user's own file"
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    assert export.main([str(src), str(folder)]) == 2 and "is a folder" in capsys.readouterr().err
    assert export.main([str(src), str(out), "--exporter", "torchscript", "--force"]) in (0, 1)
    assert out.stat().st_size > 1000  # replaced, as told


def test_gpu_check_refuses_an_earlier_checks_folder(tmp_path):
    (tmp_path / "gpu_check.md").write_text("an earlier check's figures")
    cmd = [sys.executable, "scripts/gpu_check.py", "--rehearse", "--out", str(tmp_path), "--sections", "env"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "gpu_check.md exists" in proc.stderr and "--force" in proc.stderr
    assert (tmp_path / "gpu_check.md").read_text() == "an earlier check's figures"


def test_a_results_folder_asc_did_not_write_is_refused_at_planning(tmp_path):
    results = tmp_path / "mine"
    results.mkdir()
    (results / "summary.md").write_text("the user's own summary")
    cfg = composed(f"paths.store={tmp_path / 'store'}", f"paths.results={results}", f"paths.data={tmp_path}")
    with pytest.raises(InputError, match=r"paths.results=.*holds summary.md.*no results.csv"):
        check_plan(make_plan(cfg), cfg, upto="report")
    assert not (tmp_path / "store").exists()
    (results / "summary.md").rename(results / "notes.md")  # a file the report does not write: fine
    check_results_folder(results)
    (results / "cost_pareto.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="cost_pareto.png"):
        check_results_folder(results)
    (results / "results.csv").write_text("run_id\n")  # asc's own folder: its report is rewritten
    check_results_folder(results)


def test_the_report_stems_are_what_the_report_writes():
    from asc.report import figures, report_record, tables, tables_sensitivity
    from asc.report import write as report

    written = {"summary", "per_device", tables_sensitivity.STEM, *tables.TABLES, *figures.FIGURES}
    written |= {Path(report.LATENCY_FILE).stem, "machine", Path(report_record.RECORD_FILE).stem}
    assert set(REPORT_STEMS) == written
