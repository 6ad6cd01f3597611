"""``asc model=<name> prune=cosine`` end to end on the tiny demo for every zoo network at CPU-sized widths, with
its own front end (the 1-s demo for the DCASE 2024 network): trained one by one (as the dry run says), pruned by
dependency-graph surgery, fine-tuned from the pruned checkpoint (rebuilt by asc/nets/checkpoint.py from its
pruning history), every results row costed by asc/nets/cost.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from config_fixtures import NO_FIGURES, TINY_DEMO_DATA, composed

import asc
from asc.nets.checkpoint import load
from asc.pipeline.dryrun import training_mode

TINY = [
    *TINY_DEMO_DATA,
    "train.epochs=1",
    "train.select_after=0",
    "finetune.epochs=1",
    "finetune.select_after=0",
    "prune=cosine",
    "runs=[{criteria:[cosine],layer_sets:null,fractions:[1.0],repeats:1}]",
    "runtime.latency.measure=false",
    *NO_FIGURES,
]
DRY_RUN = "dcase2024"  # the network whose test also runs the CLI's dry run
# The networks whose test runs the report too (BN-free; depthwise and coupled groups); the others stop at
# stage=finetune: the report reads every family's rows alike, and tests/test_zoo_deploy.py (dcase2024) and
# tests/test_quantised_zoo.py (panns_cnn10) report on theirs
REPORT = ("vggish_asc", "efficientat_mn04")
SMALL = {
    # 2-s recordings cut into 1-s clips: 220 clips as the 10-s networks' demo has (demo1s renders 10-s ones: 1100)
    "dcase2024": ["dataset=demo1s", "dataset.recording_seconds=2", "model.base_channels=8"],
    "vggish_asc": ["model.widths=[4,4,8,8,8,8]", "model.dense=[16,8]"],
    "panns_cnn14": ["model.widths=[4,4,8,8,8,8]"],
    "panns_cnn10": ["model.widths=[4,4,8,8]"],
    "panns_resnet38": ["model.widths=[4,4,8,8]", "model.blocks=[1,1,1,1]", "model.head=16"],
    # EfficientAT has no width option: a stride-8 first conv cuts the MACs 16x (0.54 G -> 0.037 G for mn10), the
    # widths and the groups the graph prunes stay the published ones (the path is under test, not accuracy)
    "efficientat_mn04": ["model.in_conv_stride=8"],
    "efficientat_mn10": ["model.in_conv_stride=8", "model.dropout=0.1"],
}


@pytest.fixture
def data_dir(shared_data: Path) -> Path:
    """The demo sets and each front end's features: built once a session (conftest's ``shared_data``)."""
    return shared_data


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_network_trains_prunes_and_fine_tunes_on_the_demo(data_dir, tmp_path, name, capsys, caplog):
    """In this process (``asc.run``: the CLI's job without Hydra's run folder; the CLI process itself is
    tests/test_cli.py's): a subprocess per network started an interpreter and imported torch again."""
    args = [
        f"model={name}",
        *SMALL[name],
        *TINY,
        f"paths.data={data_dir}",
        f"paths.store={tmp_path / 'store'}",
    ]
    args += [f"paths.results={tmp_path / 'results'}", "quantise.enabled=false"]  # tests/test_quantised_zoo.py
    args += [] if name in REPORT else ["stage=finetune"]
    one_by_one = f"training: one by one (model={name} is not fusable"
    assert one_by_one in training_mode(composed(*args))
    if name == DRY_RUN:  # the dry run's report once: the line above is the same function for every network
        asc.run([*args, "dry_run=true"])
        assert one_by_one in capsys.readouterr().out
    caplog.set_level("INFO", logger="asc")
    asc.run(args)
    assert any(re.search(r"\btrain [0-9a-f]{12} \(baseline seed 0\): built in", m) for m in caplog.messages)
    for stage in ("prune", "finetune"):  # pruned by the dependency graph, fine-tuned from its history
        (tuned,) = (tmp_path / "store" / stage).glob("*/row.json")
        pruned_model, extra = load(tuned.parent / "model.pt")
        assert extra["history"], stage
        assert (
            sum(p.numel() for p in pruned_model.parameters()) == json.loads(tuned.read_text())["params_torch"]
        )
    (row_file,) = (tmp_path / "store" / "train").glob("*/row.json")
    row = json.loads(row_file.read_text())
    assert json.loads(row["model_spec"])["name"] == name
    if name in REPORT:
        import pandas as pd

        rows = pd.read_csv(tmp_path / "results" / "results.csv")
        assert list(rows["stage"]) == ["baseline", "prune", "finetune"]
        assert {json.loads(s)["name"] for s in rows["model_spec"]} == {name}
    assert row["params_torch"] > 0 and row["macs"] > 0 and row["mem_fp32_kb"] > 0
    model, extra = load(row_file.parent / "model.pt")
    assert extra["spec"]["name"] == name and extra["history"] == []
    assert sum(p.numel() for p in model.parameters()) == row["params_torch"]


@pytest.mark.slow
def test_custom_factory_trains_on_the_demo(data_dir, tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "mynets.py").write_text(
        "import torch\n\n\ndef tiny(hidden=8):\n"
        "    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d((4, 10)), torch.nn.Flatten(),\n"
        "                               torch.nn.Linear(40, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))\n"
    )
    # the user's package importable as on their PYTHONPATH, in this process (asc.run: no interpreter to start)
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    train_only = [a for a in TINY if not a.startswith(("prune=", "runs=", "finetune."))] + ["stage=train"]
    args = [
        "model=custom",
        "model.factory=mynets:tiny",
        "+model.kwargs.hidden=4",
        *train_only,
    ]  # no conv to prune
    args += [
        f"paths.data={data_dir}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    asc.run(args)
    (row_file,) = (tmp_path / "store" / "train").glob("*/row.json")
    assert json.loads(json.loads(row_file.read_text())["model_spec"])["factory"] == "mynets:tiny"
