"""Every experiment file runs end to end on a tiny budget: the TAU-sized stand-in shrunk to its smallest scale
(its 10-s clips cut to 2 s), one epoch, one repeat, each block's largest data fraction (smaller ones leave strata
of so tiny a set empty) and smallest official split.
The experiments share one workspace, so what they have in common (the baseline, pruned and fine-tuned networks)
is built once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import CONF, NO_FIGURES, QUICK_FIGURES, composed

from asc.app.cli import run
from asc.data.standin import MIN_SCALE
from asc.deploy.quantised import missing_packages as quantise_missing

pytestmark = pytest.mark.slow

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
TINY = [
    "dataset=standin",
    f"dataset.scale={MIN_SCALE + 1e-4:.4f}",
    "train.epochs=1",
    "train.select_after=0",
    "finetune.epochs=1",
    "finetune.select_after=0",
    "perdevice.epochs=1",  # experiment=dcase2025 sets the 2025 baseline's 50 per-device epochs
    "runtime.latency.measure=false",
    *QUICK_FIGURES,
    "model.widths=[4,4,8]",  # the pipeline, not the arithmetic: a narrow network trains in a fraction of the time
]
# The 10-s stand-in's experiments on 2-s clips: 100 frames, the DCASE 2021 network's last pool (4, 100) cut to
# (4, 20) to match. The pipeline, not the arithmetic: every convolution (train, fine-tune, evaluation) costs a fifth.
SHORT_CLIPS = [
    "dataset.clip_seconds=2",
    "features.frames=100",
    "features.stats_frames=100",
    "model.input_shape=[40,100]",
    "model.pools=[null,[5,5],[4,20]]",
]
# The quantise stage (an ONNX export and three onnxruntime evaluations a model) runs in the demo's experiment only:
# it is the experiment whose report shows int8 accuracy, and tests/test_quantised*.py cover the stage itself.
QUANTISED = {"demo"}
# The report's figures are drawn from the rows of the default demo, the paper's grid (figures 2-6) and a tagging
# experiment (mAP axes); the others write their tables alone (tests/test_figures*.py draw every figure, the
# sensitivity scan's in tests/test_sensitivity_cli.py)
DRAWN = {"demo", "paper", "centrality_panns"}

# CNN14 on AudioSet: here on the generated tagging demo (PANNs' HDF5 layout, 10 s at 32 kHz), few clips, narrow
# convs; scored by mAP
TAGGING = {"centrality_panns", "epanns"}
TAGGING_TINY = [
    "dataset=tagging_demo",
    "dataset.train_clips=40",
    "dataset.eval_clips=20",
    *(o for o in TINY if not o.startswith(("dataset", "model.", "perdevice"))),
    "model.widths=[4,4,8,8,8,8]",
    # 2-s clips, 201 PANNs frames (CNN14 pools globally over time): a fifth of the audio to render and convolve
    "dataset.clip_seconds=2",
    "features.frames=201",
    "features.stats_frames=201",
]
# VGGish_Net reads 16 kHz audio in 0.96-s patches: the 16 kHz scene demo, six narrow convs and a narrow dense head
VGGISH = {"nystrom_vggish"}
VGGISH_DATA = [
    "dataset=demo16k",
    "dataset.cities=[barcelona]",  # one city of the demo: a third of its clips
    # 2-s clips, 197 frames: 3 patches a clip instead of 19, a fifth of the audio to render
    "dataset.clip_seconds=2",
    "features.frames=197",
    "features.stats_frames=197",
]
VGGISH_TINY = [
    *VGGISH_DATA,
    *(o for o in TINY if not o.startswith(("dataset", "model."))),
    "model.widths=[4,4,8,8,8,8]",
    "model.dense=[16,8]",
    "train.batch_size=64",  # it trains on patches: fewer, larger steps
    "finetune.batch_size=64",
]

# The DCASE 2024/2025 network (experiment=dcase2025's model=dcase2024), narrow: pruned by its dependency graph
DCASE2025 = {"dcase2025"}
DCASE2025_TINY = [*(o for o in TINY if not o.startswith("model.")), "model.base_channels=8"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("experiments")


def test_every_experiment_file_is_covered() -> None:
    assert {"demo", "paper", "paper_fig3", "paper_fig5", "paper_fig6", "paper_table1"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_on_a_tiny_budget(experiment: str, ws: Path, shared_data: Path) -> None:
    one_second = experiment.startswith("dcase")  # the DCASE 2022-2025 benchmark: its 1-s stand-in
    tiny = (
        VGGISH_TINY
        if experiment in VGGISH
        else TAGGING_TINY
        if experiment in TAGGING
        else DCASE2025_TINY
        if experiment in DCASE2025
        else TINY
    )
    cfg = composed(
        f"experiment={experiment}",
        *tiny,
        *(["dataset=standin1s"] if one_second else SHORT_CLIPS if tiny is TINY else []),
        *([] if experiment in QUANTISED else ["quantise.enabled=false"]),
        *([] if experiment in DRAWN else NO_FIGURES),
        f"paths.data={shared_data}",  # the data and features other tests run on too (tests/test_nystrom_vggish.py)
        f"paths.store={ws / 'store'}",
        f"paths.results={ws / experiment}",
    )
    for block in cfg["runs"]:
        block["fractions"] = [max(block["fractions"])] if block["fractions"] else []
        # the smallest official split: split5, the split files' path on a twentieth of the training recordings
        # (the stand-in writes it stratified by scene and device; it trains at the smallest scale)
        block["splits"] = block.get("splits", [])[:1]
        block["repeats"] = min(
            1, int(block.get("repeats", cfg["repeats"]))
        )  # a top-level repeats fills a block
        if block.get("sensitivity"):  # a scan (experiment=sensitivity): its largest ratio only
            block["sensitivity"] = block["sensitivity"][-1:]
        if block.get(
            "per_device"
        ):  # one fine-tuned copy per device: the block's first criterion shows the path
            block["criteria"] = block["criteria"][:1]
    run(cfg)
    rows = pd.read_csv(ws / experiment / "results.csv")
    wanted = {
        (cfg["criteria"][b_criteria]["name"], "+".join(layers))
        for block in cfg["runs"]
        for b_criteria in block["criteria"]
        for layers in (block["layer_sets"] or [cfg["criteria"][b_criteria]["layers"]])
    }
    pruned = rows[rows["stage"] == "prune"]
    assert set(zip(pruned["criterion"], pruned["layers"], strict=True)) == wanted
    n_finetune = sum(
        len(block["criteria"])
        * len(block["layer_sets"] or [None])
        * (len(block["fractions"]) + len(block["splits"]))
        * block["repeats"]
        * len(block.get("sensitivity") or [None])
        for block in cfg["runs"]
    )
    finetuned = rows[rows["stage"] == "finetune"]
    assert 0 < len(finetuned) <= n_finetune if n_finetune else finetuned.empty  # blocks may share runs
    metric = "mAP" if experiment in TAGGING else "accuracy"  # the task's metric column (asc.data.tasks)
    assert rows[metric].between(0, 1).all()
    assert (ws / experiment / "summary.md").is_file()
    if (
        experiment in QUANTISED and not quantise_missing()
    ):  # the demo's report: accuracy at int8 for every model
        assert rows["accuracy_int8"].between(0, 1).all() and rows["accuracy_fp16"].between(0, 1).all()
        assert "int8 accuracy (%)" in (ws / experiment / "cost.md").read_text()
    if experiment == "demo":  # its KD block: one line taught by the baseline beside the hard-label ones
        taught = rows[rows["teacher"].fillna("").ne("")]
        assert len(taught) == 1 and taught["teacher"].iloc[0] == "baseline seed 0"
        summary = pd.read_csv(ws / experiment / "summary.csv")
        assert (summary["teacher"].fillna("") == "baseline").sum() == 1
        assert "KD baseline" in (ws / experiment / "criteria.md").read_text()
