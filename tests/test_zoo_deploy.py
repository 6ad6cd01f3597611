"""A zoo network's deployment columns end to end on the 1-s demo (the DCASE 2024/2025 network, CPU width): per-device
models (stage perdevice, rebuilt from the zoo checkpoint and saved with its pruning history), latency of the
baseline and the pruned architecture in the report's interleaved timer, and the front end's MACs per clip as a
column of their own."""

from __future__ import annotations

import pandas as pd
import pytest
from test_zoo_pipeline import SMALL, TINY

from asc.nets.checkpoint import load


@pytest.mark.slow
def test_dcase2024_per_device_latency_and_front_end_macs(tmp_path, shared_data, caplog, capfd) -> None:
    """In this process (``asc.run``, the CLI's job; the CLI process itself is tests/test_cli.py's), on
    tests/test_zoo_pipeline.py's 2-s recordings of the 1-s demo (220 clips, not 1100: the deployment columns, not
    accuracy, are under test; its features are built once a session)."""
    from config_fixtures import composed

    import asc
    from asc.nets.cost import front_end_macs

    args = [
        "model=dcase2024",
        *SMALL["dcase2024"],
        *[a for a in TINY if not a.startswith(("runs=", "runtime.latency"))],
        "perdevice.epochs=1",
        "runs=[{criteria:[cosine],layer_sets:null,fractions:[1.0],repeats:1,per_device:true}]",
        "runtime.latency.batch_sizes=[1]",
        "quantise.enabled=false",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    caplog.set_level("INFO", logger="asc")
    asc.run(args)
    assert "not a model spec" not in caplog.text + "".join(capfd.readouterr())
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert set(rows["stage"]) == {"baseline", "prune", "finetune", "per_device"}
    assert (rows["frontend_macs"] == front_end_macs(composed(*args)["features"])).all()
    (device_row,) = rows[rows["stage"] == "per_device"].to_dict("records")
    folder = tmp_path / "store" / "perdevice"
    (artifact,) = list(folder.iterdir())
    model, extra = load(artifact / "device_a.pt")
    assert extra["history"] and extra["device"] == "a"  # the pruned zoo network, rebuilt from its history
    assert sum(p.numel() for p in model.parameters()) == device_row["params_torch"]
    assert not list(artifact.rglob("last.pt"))  # the device runs' resume checkpoints are not the artifact's
    latency = pd.read_csv(tmp_path / "results" / "latency.csv")
    assert sorted(set(latency["architecture"])) == [
        "dcase2024",
        next(a for a in latency["architecture"] if "-" in a),
    ]
    cost = (tmp_path / "results" / "cost.md").read_text()
    assert "CPU b1 (ms)" in cost and "Front-end MACs (M)" in cost
