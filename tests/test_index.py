"""The dataset index and the location-grouped validation split, on the tiny demo set and on synthetic tables."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from asc.data.tau import REQUIRED, SPLITS, build_index, load_index, location_split, parse_filename, save_index


@pytest.fixture(scope="module")
def index(tiny_demo: Path) -> pd.DataFrame:
    return build_index(tiny_demo, {}, seed=0)


def copy_meta(src: Path, dst: Path) -> Path:
    """A dataset folder with the CSVs of ``src`` and links to its audio (so tests can remove files)."""
    for name in REQUIRED:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / name, dst / name)
    (dst / "audio").mkdir()
    for wav in (src / "audio").iterdir():
        (dst / "audio" / wav.name).symlink_to(wav)
    return dst


def test_columns_and_splits(index: pd.DataFrame, tiny_demo_cfg: dict[str, Any]) -> None:
    assert list(index.columns) == ["filename", "scene", "city", "location", "device", "split"]
    assert set(index["split"]) == set(SPLITS) == {"train", "val", "evaluate"}
    assert len(index) == 110
    assert (index["split"] == "evaluate").sum() == 50
    assert set(index["city"]) == set(tiny_demo_cfg["cities"])
    # Location is TAU's identifier city-location, device the last field of the name.
    for row in index.itertuples():
        assert row.location.startswith(f"{row.city}-")
        assert row.filename.endswith(f"-{row.device}.wav")
        assert Path(row.filename).name.startswith(f"{row.scene}-{row.location}-")
    assert set(index.loc[index["split"] == "evaluate", "device"]) == {"a", "b", "c", "s1", "s4"}
    assert "s4" not in set(index.loc[index["split"] != "evaluate", "device"])


def test_validation_is_grouped_by_location(index: pd.DataFrame) -> None:
    train = set(index.loc[index["split"] == "train", "location"])
    val = set(index.loc[index["split"] == "val", "location"])
    assert train and val
    assert not train & val
    assert index.groupby("location")["split"].nunique().max() == 1  # every clip of a location on one side
    # Every scene and city keeps training data and gets validation data.
    fold1 = index[index["split"] != "evaluate"]
    assert (fold1.groupby(["scene", "city"])["split"].nunique() == 2).all()


def test_validation_ratio(index: pd.DataFrame) -> None:
    fold1 = index[index["split"] != "evaluate"]
    ratio = (fold1["split"] == "val").mean()
    assert 0.2 <= ratio <= 0.4, ratio  # 1 of 3 locations per scene and city


def test_index_is_deterministic(index: pd.DataFrame, tiny_demo: Path) -> None:
    pd.testing.assert_frame_equal(build_index(tiny_demo, {}, seed=0), index)
    other = build_index(tiny_demo, {}, seed=1)
    assert other["filename"].tolist() == index["filename"].tolist()
    assert other["split"].tolist() != index["split"].tolist()


def test_saved_index_round_trips(index: pd.DataFrame, tmp_path: Path) -> None:
    save_index(index, tmp_path)
    pd.testing.assert_frame_equal(load_index(tmp_path), index)
    for split in SPLITS:
        listed = pd.read_csv(tmp_path / f"{split}.csv")
        assert listed["filename"].tolist() == index.loc[index["split"] == split, "filename"].tolist()


def synthetic_train(n_locations: int = 10, seed: int = 0) -> pd.DataFrame:
    """10 scenes x 4 cities x ``n_locations`` locations with 1..8 clips each (2,000-odd rows)."""
    rng = np.random.default_rng(seed)
    rows = []
    for scene in range(10):
        for city in ("barcelona", "helsinki", "lisbon", "london"):
            for loc in range(n_locations):
                location = f"{city}-{scene * 100 + loc}"
                rows += [{"scene": f"s{scene}", "city": city, "location": location}] * int(rng.integers(1, 9))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_locations", [10, 12])
def test_location_split_ratio_close_to_30_percent(n_locations: int) -> None:
    train = synthetic_train(n_locations)
    mask = location_split(train, seed=0)
    assert mask.dtype == bool and mask.shape == (len(train),)
    assert abs(mask.mean() - 0.3) < 0.02, mask.mean()
    # Grouped: a location is entirely in or out; every scene and city keeps locations on both sides.
    by_location = pd.Series(mask).groupby(train["location"]).nunique()
    assert by_location.max() == 1
    sides = pd.Series(mask).groupby([train["scene"], train["city"]]).nunique()
    assert (sides == 2).all()
    # The best of 100 draws is at least as close as the first draw alone (the same seeded stream).
    single = location_split(train, seed=0, draws=1)
    assert abs(mask.mean() - 0.3) <= abs(single.mean() - 0.3)
    np.testing.assert_array_equal(location_split(train, seed=0), mask)


def test_missing_audio_is_excluded_with_a_warning(
    tiny_demo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = copy_meta(tiny_demo, tmp_path / "partial")
    gone = sorted((root / "audio").iterdir())[:3]
    for path in gone:
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="asc.data.tau"):
        table = build_index(root, {}, seed=0)
    assert len(table) == 110 - 3
    assert not set(table["filename"]) & {f"audio/{p.name}" for p in gone}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 clips" in r.getMessage() and "excluded" in r.getMessage() for r in warnings), caplog.text


@pytest.mark.parametrize("missing", list(REQUIRED))
def test_missing_metadata_file_is_named(tiny_demo: Path, tmp_path: Path, missing: str) -> None:
    root = copy_meta(tiny_demo, tmp_path / "incomplete")
    (root / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        build_index(root, {}, seed=0)


def test_unknown_scene_is_an_error(tiny_demo: Path, tmp_path: Path) -> None:
    root = copy_meta(tiny_demo, tmp_path / "bad")
    fold = root / "evaluation_setup" / "fold1_train.csv"
    fold.write_text(fold.read_text().replace("\tairport\n", "\taeroport\n", 1))
    with pytest.raises(ValueError, match="aeroport"):
        build_index(root, {}, seed=0)


def test_parse_tau_filename() -> None:
    assert parse_filename("audio/street_pedestrian-lisbon-1000-40000-s4.wav") == {
        "scene": "street_pedestrian",
        "city": "lisbon",
        "location": "lisbon-1000",
        "device": "s4",
    }
    with pytest.raises(ValueError, match="airport-lisbon.wav"):
        parse_filename("audio/airport-lisbon.wav")


def test_planning_and_the_dry_run_log_no_clip_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The index's ``index: N clips`` line is the stage's, logged when it builds: the checks and the dry run preview
    the index several times per job and said it each time (three times before the build said it again)."""
    from config_fixtures import TINY_DEMO_DATA, composed

    from asc.pipeline.dryrun import format_plan
    from asc.pipeline.plan import check_plan, make_plan

    where = [f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")]
    cfg = composed(*TINY_DEMO_DATA, "runs=[{criteria:[l1],fractions:[1.0]}]", *where)
    with caplog.at_level(logging.INFO):
        steps = make_plan(cfg)
        checked = check_plan(steps, cfg, upto="report")
        format_plan(steps, cfg, upto="report", needs=checked.needs)
    assert not [r.getMessage() for r in caplog.records if r.getMessage().startswith("index:")]
