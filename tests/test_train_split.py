"""The baseline trained on an official split (``train.split``, as DCASE 2025 trains on split25): drawn from all
of fold1_train, keyed only when given, refused at planning where it cannot work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import composed
from test_experiments import TINY
from test_planning_checks import nothing_built, planned

from asc.app.cli import run
from asc.core.errors import ConfigError, InputError
from asc.data.tau2022 import read_split, recording_of
from asc.pipeline.plan import make_plan

ONE_SECOND = ["dataset=standin1s", "features=logmel40x51", "model=dcase22"]


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["train.split=split25"], ConfigError, r"train.select_on=val would select on training clips"),
        (
            ["train.split=split7", "train.select=last"],
            ConfigError,
            r"train.split='split7'.*null or one of split5",
        ),
        (
            ["train.split=split25", "train.select=last", "finetune.select=last"],
            InputError,
            r"train.split: \['split25'\] are DCASE 2024's splits of 1-s clips, which dataset=demo",
        ),
    ],
)
def test_a_split_that_cannot_work_is_refused_at_planning(
    tmp_path: Path, overrides: list[str], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        planned(*overrides, tmp=tmp_path)
    assert nothing_built(tmp_path)


def test_the_split_keys_the_baseline_and_nothing_else_changes() -> None:
    plain = {s.stage: s for s in make_plan(composed(*ONE_SECOND))}
    on_split = {
        s.stage: s
        for s in make_plan(
            composed(*ONE_SECOND, "train.split=split25", "train.select=last", "finetune.select=last")
        )
    }
    assert on_split["features"].key == plain["features"].key
    assert on_split["train"].key != plain["train"].key
    assert on_split["train"].label == "baseline seed 0 on split25"


@pytest.mark.slow
def test_the_baseline_trains_on_the_clips_of_its_split(tmp_path: Path) -> None:
    cfg = composed(
        *TINY,
        *ONE_SECOND[1:],
        "dataset=standin1s",
        "train.split=split25",
        "train.select=last",
        "finetune.select=last",
        "stage=train",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    )
    run(cfg)
    (row,) = pd.read_csv(tmp_path / "results" / "results.csv").to_dict("records")
    assert row["split"] == "split25"
    (dataset_dir,) = (tmp_path / "data" / "dataset").iterdir()
    listed = {
        recording_of(f) for f in read_split(dataset_dir / "split_setup" / "split25.csv", published=False)
    }
    fold = pd.read_csv(dataset_dir / "evaluation_setup" / "fold1_train.csv", sep="\t")
    assert row["train_examples"] == sum(recording_of(f) in listed for f in fold["filename"])
    assert 0 < row["train_examples"] < len(fold)
