"""Issue 18 item 3: a damaged store is named, never loaded: manifests record every file's size and checksum,
checked on reuse; stored features are checked to be finite when read back."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from feature_fixtures import write_split

from asc.data.feature_arrays import DamagedFeaturesError, load_array, read_stats
from asc.pipeline import manifest
from asc.pipeline.manifest import VERIFIED, DamagedArtifactError
from asc.pipeline.store import MANIFEST, Artifact, Store


def model_builder(work: Path) -> dict[str, Any]:
    (work / "model.pt").write_bytes(os.urandom(4096))
    (work / "row.json").write_text(json.dumps({"run_id": "train/x", "accuracy": 0.5}))
    (work / "sub").mkdir()
    (work / "sub" / "metrics.json").write_text("{}")
    return {}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Store, Artifact]:
    store = Store(tmp_path)
    art = store.artifact("train", {"seed": 0})
    store.build(art, model_builder, describe="baseline seed 0")
    return store, art


def test_manifest_records_every_file(built: tuple[Store, Artifact]) -> None:
    _, art = built
    files = art.manifest()["files"]
    assert sorted(files) == ["model.pt", "row.json", "sub/metrics.json"]
    assert files["model.pt"]["bytes"] == 4096 and len(files["model.pt"]["sha256"]) == 64


def refuse(store: Store, art: Artifact) -> str:
    with pytest.raises(DamagedArtifactError) as err:
        store.build(art, pytest.fail, describe="baseline seed 0")
    message = str(err.value)
    assert (
        "\n" not in message and f"train {art.key} (baseline seed 0)" in message and str(art.path) in message
    )
    return message


def test_truncated_checkpoint_is_named_not_loaded(built: tuple[Store, Artifact]) -> None:
    store, art = built
    with open(art.path / "model.pt", "r+b") as fh:
        fh.truncate(1000)
    message = refuse(store, art)
    assert "model.pt has 1000 bytes where 4096 were written (truncated" in message and "delete" in message


def test_deleted_row_is_named(built: tuple[Store, Artifact]) -> None:
    store, art = built
    (art.path / "row.json").unlink()
    assert "row.json is missing" in refuse(store, art)


def test_same_size_damage_is_caught_by_the_checksum(built: tuple[Store, Artifact]) -> None:
    store, art = built
    with open(art.path / "model.pt", "r+b") as fh:  # NaN bytes over the first weights, size unchanged
        fh.write(np.full(8, np.nan, dtype=np.float32).tobytes())
    assert "model.pt differs from what was written (SHA-256" in refuse(store, art)
    with pytest.raises(DamagedArtifactError, match="model.pt differs"):
        art.verify()  # what the middle calls before loading a file of an artifact


def test_untouched_artifacts_are_verified_by_stats_alone(built: tuple[Store, Artifact], monkeypatch) -> None:
    store, art = built
    hashed: list[Path] = []
    real = manifest.sha256
    monkeypatch.setattr(manifest, "sha256", lambda path: hashed.append(path) or real(path))
    store.build(art, pytest.fail)
    assert hashed == []  # the publish left the cache
    (art.path / VERIFIED).unlink()  # e.g. a store copied elsewhere: checked in full once, then cached again
    store.build(art, pytest.fail)
    assert len(hashed) == 3
    store.build(art, pytest.fail)
    assert len(hashed) == 3


def test_rebuild_mode_replaces_a_damaged_artifact(built: tuple[Store, Artifact], caplog) -> None:
    store, art = built
    (art.path / "row.json").unlink()
    calls = []
    with caplog.at_level(logging.WARNING, logger="asc.pipeline.store"):
        store.build(art, lambda work: calls.append(1) or model_builder(work), damaged="rebuild")
    assert calls == [1] and (art.path / "row.json").is_file() and "row.json is missing" in caplog.text
    assert [p.name for p in art.path.parent.iterdir() if p.is_dir()] == [art.key]
    art.verify()


def test_old_manifest_without_checksums_is_reused_unverified(tmp_path: Path, caplog) -> None:
    art = Store(tmp_path).artifact("features", {"n": 40})
    art.path.mkdir(parents=True)
    (art.path / MANIFEST).write_text(json.dumps({"stage": "features", "key": art.key}))
    with caplog.at_level(logging.INFO, logger="asc.pipeline.manifest"):
        Store(tmp_path).build(art, pytest.fail)
    assert "predates file checksums; reused unverified" in caplog.text


def test_unreadable_manifest_is_named(built: tuple[Store, Artifact]) -> None:
    store, art = built
    (art.path / MANIFEST).write_text('{"stage": "tr')
    assert "manifest.json cannot be read" in refuse(store, art)


# ---------------------------------------------------------------------------------------- features read back


def features(tmp_path: Path) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(0).standard_normal((6, 4, 5)).astype(np.float32)
    write_split(tmp_path, "train", x, np.zeros(4), np.ones(4))
    return tmp_path, x


def test_nan_bytes_in_stored_features_are_named_with_the_clip(tmp_path: Path) -> None:
    folder, x = features(tmp_path)
    path = folder / "train.npy"
    data = bytearray(path.read_bytes())
    offset = len(data) - x.nbytes + 4 * x[0].size * 3 + 8  # clip 3, third value
    data[offset : offset + 4] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFeaturesError) as err:
        load_array(folder, "train", clips=6, chunk_rows=2)
    assert f"{path}: clip 3 (row 5 of train.csv) holds non-finite values" in str(err.value)
    assert str(folder) in str(err.value) and "rebuild" in str(err.value)


def test_truncated_features_and_damaged_statistics_are_named(tmp_path: Path) -> None:
    folder, _ = features(tmp_path)
    stats = folder / "stats.npz"
    stats.write_bytes(stats.read_bytes()[:50])
    with pytest.raises(DamagedFeaturesError, match=f"{stats} cannot be read"):
        read_stats(folder)
    np.savez(stats, mean=np.array([0, np.inf, 0, 0]), std=np.ones(4))
    with pytest.raises(DamagedFeaturesError, match="non-finite statistics"):
        load_array(folder, "train", clips=6)
    path = folder / "train.npy"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DamagedFeaturesError, match="ends early"):
        load_array(folder, "train", clips=6, normalise=False)


def _publish_by_hand(folder: Path) -> None:
    folder.mkdir(parents=True)
    model_builder(folder)
    (folder / MANIFEST).write_text(json.dumps({"files": manifest.record(folder)}))


def test_a_damaged_model_is_refused_while_planning_and_damaged_data_shown(tmp_path: Path) -> None:
    """Issue 18 item 3, at planning: a truncated baseline is named before anything (e.g. another criterion's
    pruning) is built; damaged features are shown as such by the dry run (they are rebuilt)."""
    from config_fixtures import composed

    from asc.pipeline.chain import artifact_dir
    from asc.pipeline.dryrun import format_plan
    from asc.pipeline.plan import check_plan, make_plan

    cfg = composed(
        f"paths.data={tmp_path}/data", f"paths.store={tmp_path}/store", f"paths.results={tmp_path}/r"
    )
    steps = make_plan(cfg)
    by_stage = {s.stage: s for s in steps}
    features = artifact_dir(cfg["paths"], "features", by_stage["features"].key)
    _publish_by_hand(features)
    (features / "model.pt").write_bytes(b"short")
    assert "damaged" in format_plan(steps, cfg, upto="features")
    baseline = artifact_dir(cfg["paths"], "train", by_stage["train"].key)
    _publish_by_hand(baseline)
    check_plan(steps, cfg, upto="report")  # intact
    (baseline / "model.pt").write_bytes(b"short")
    with pytest.raises(
        DamagedArtifactError,
        match=r"^train .*model.pt has 5 bytes where 4096 were written.*"
        r"found while planning",
    ):
        check_plan(steps, cfg, upto="report")
