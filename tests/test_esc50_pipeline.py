"""ESC-50 past the dataset stage on a small brought folder of real WAVs: the test fold (``dataset.fold``) is the
evaluation split and keys the dataset, the hold-out is drawn from the other folds, the classes are ESC-50's own
(class numbers from the list, names from its categories), and a baseline is trained and scored on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from config_fixtures import composed

from asc.app.cli import run
from asc.core.errors import ConfigError
from asc.data import esc50
from asc.pipeline.plan import check_plan, make_plan

CLASSES, PER_FOLD = 3, 2


def esc_folder(root: Path) -> Path:
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    t = np.arange(44100) / 44100
    for fold in range(1, 6):
        for target in range(CLASSES):
            for k in range(PER_FOLD):
                name = f"{fold}-{target}{k}-A-{target}.wav"
                tone = 0.3 * np.sin(2 * np.pi * (300 + 400 * target) * t) + 0.02 * rng.standard_normal(44100)
                sf.write(root / "audio" / name, tone, 44100, subtype="PCM_16")
                rows.append(f"{name},{fold},{target},sound{target},False,{target}{k},A")
    (root / "meta/esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def tiny_esc50(root: Path) -> list[str]:
    """The overrides of a brought ESC-50 folder made by :func:`esc_folder` at ``root``: 1-s clips, CLASSES classes,
    the 2022 network over 40x51 log-mels."""
    return [
        "dataset=esc50",
        f"dataset.root={root}",
        "dataset.download=false",
        "dataset.clip_seconds=1",
        f"dataset.classes={CLASSES}",
        "features=logmel40x51",
        "model=dcase22",
        f"model.n_classes={CLASSES}",
    ]


def _cfg(tmp_path: Path, *extra: str) -> dict:
    return composed(
        *tiny_esc50(tmp_path / "esc"),
        "train.epochs=1",
        "train.select_after=0",
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        *extra,
    )


@pytest.fixture
def small_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(esc50, "CLIPS", 5 * CLASSES * PER_FOLD)


def test_esc50_fold_trained_on_its_own_classes(tmp_path: Path, small_set: None) -> None:
    esc_folder(tmp_path / "esc")
    run(_cfg(tmp_path, "stage=train", "dataset.fold=2"))
    (index_csv,) = (tmp_path / "store" / "index").glob("*/index.csv")
    table = pd.read_csv(index_csv)
    assert set(table.loc[table["split"] == "evaluate", "fold"]) == {2}
    assert table["split"].value_counts().to_dict() == {"train": 19, "evaluate": 6, "val": 5}
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert rows["accuracy"].between(0, 1).all()
    (scores,) = (tmp_path / "store" / "train").glob("*/metrics.json")
    per_class = json.loads(scores.read_text())["per_class"]
    assert set(per_class) == {f"sound{k}" for k in range(CLASSES)}  # the set's names, not TAU's scenes
    assert (
        make_plan(_cfg(tmp_path, "dataset.fold=3"))[0].key
        != make_plan(_cfg(tmp_path, "dataset.fold=2"))[0].key
    )


def test_fold_and_class_count_refused_at_planning(tmp_path: Path, small_set: None) -> None:
    esc_folder(tmp_path / "esc")
    with pytest.raises(ConfigError, match="dataset.fold=6 is not an ESC-50 fold"):
        cfg = _cfg(tmp_path, "dataset.fold=6")
        check_plan(make_plan(cfg), cfg, upto="train")
    cfg = _cfg(tmp_path, "model.n_classes=10")
    with pytest.raises(ConfigError, match=f"but esc50 has {CLASSES} classes"):
        check_plan(make_plan(cfg), cfg, upto="train")
