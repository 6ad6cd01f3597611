"""The config-keyed artifact store, and the keys the pipeline derives from the config."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from asc.experiment import Experiment
from asc.store import MANIFEST, Artifact, Store, config_key

CONF = Path(__file__).resolve().parents[1] / "conf"


class Counting:
    """A builder that counts its calls and writes one file."""

    def __init__(self, extra: dict[str, Any] | None = None):
        self.calls = 0
        self.extra = extra

    def __call__(self, work: Path) -> dict[str, Any] | None:
        self.calls += 1
        (work / "out.txt").write_text("payload")
        return self.extra


def test_build_once_then_up_to_date(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    config = {"lr": 0.001, "layers": ["C1"]}
    art = store.artifact("train", config)
    assert art.path == tmp_path / "train" / art.key and not art.done
    builder = Counting({"accuracy": 0.5})
    with caplog.at_level(logging.INFO, logger="asc.store"):
        assert store.build(art, builder, config=config, describe="demo") == art
    assert builder.calls == 1
    assert art.done and (art.path / "out.txt").read_text() == "payload"
    assert not art.partial.exists()
    manifest = art.manifest()
    assert manifest["stage"] == "train" and manifest["key"] == art.key
    assert manifest["config"] == config and manifest["upstream"] == {}
    assert manifest["accuracy"] == 0.5 and manifest["seconds"] >= 0 and manifest["created"]
    assert "built in" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="asc.store"):
        store.build(art, builder, config=config)
    assert builder.calls == 1
    assert "up to date" in caplog.text
    # A new Store object on the same folder sees the same artifact as done.
    again = Store(tmp_path).artifact("train", {"layers": ["C1"], "lr": 0.001})
    assert again == art and again.done


def test_keys() -> None:
    assert config_key({"a": 1, "b": {"x": 1, "y": 2}}) == config_key({"b": {"y": 2, "x": 1}, "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert config_key({"a": [1, 2]}) != config_key({"a": [2, 1]})  # list order is meaningful
    assert len(config_key({})) == 12
    store = Store("/nowhere")
    up1, up2 = store.artifact("index", {"seed": 0}), store.artifact("index", {"seed": 1})
    feats = store.artifact("features", {"n": 40}, [up1])
    assert feats.key == store.artifact("features", {"n": 40}, [up1]).key
    assert feats.key != store.artifact("features", {"n": 40}, [up2]).key  # upstream keys count
    assert feats.key != store.artifact("features", {"n": 40}).key
    assert store.artifact("features", {"n": 40}).key != store.artifact("train", {"n": 40}).key


def test_failed_build_leaves_only_a_partial_that_the_next_build_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path)
    art = store.artifact("train", {"epochs": 3})

    def crash(work: Path) -> None:
        (work / "last.pt").write_text("epoch 2")
        raise RuntimeError("killed after epoch 2")

    with pytest.raises(RuntimeError, match="killed"):
        store.build(art, crash)
    assert not art.path.exists() and not art.done
    assert art.partial.is_dir() and not (art.partial / MANIFEST).exists()

    seen = []

    def resume(work: Path) -> dict[str, Any]:
        seen.append((work / "last.pt").read_text())
        return {}

    with caplog.at_level(logging.INFO, logger="asc.store"):
        store.build(art, resume)
    assert seen == ["epoch 2"]
    assert "resuming" in caplog.text
    assert art.done and (art.path / "last.pt").exists() and not art.partial.exists()


def test_stale_directory_without_manifest_is_replaced(tmp_path: Path) -> None:
    store = Store(tmp_path)
    art = store.artifact("prune", {"name": "cosine"})
    art.path.mkdir(parents=True)
    (art.path / "junk").write_text("half-written by an old crash")
    builder = Counting()
    store.build(art, builder)
    assert builder.calls == 1 and art.done
    assert not (art.path / "junk").exists()


def _build_concurrently(root: str, counter: str, barrier: Any) -> None:
    store = Store(root)
    art = store.artifact("train", {"shared": True})

    def builder(work: Path) -> dict[str, Any]:
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # long enough for the other process to reach the lock
        (work / "out.txt").write_text("payload")
        return {"pid": os.getpid()}

    barrier.wait()
    store.build(art, builder)
    assert art.done


def test_two_processes_build_an_artifact_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    counter = tmp_path / "calls.txt"
    procs = [
        ctx.Process(target=_build_concurrently, args=(str(tmp_path / "store"), str(counter), barrier))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    calls = counter.read_text().split()
    assert len(calls) == 1, calls
    art = Store(tmp_path / "store").artifact("train", {"shared": True})
    assert art.done and art.manifest()["pid"] == int(calls[0])
    assert (art.path / "out.txt").read_text() == "payload"


# ---------------------------------------------------------------------------------------------------------
# Which config changes give new artifact keys in the pipeline (without building anything).


def experiment(tmp_path: Path, *overrides: str) -> Experiment:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["paths"] = {k: str(tmp_path / k) for k in ("data", "store", "results")}
    plain["device"] = "cpu"
    exp = Experiment(plain)
    # The index artifact is taken as built; every build returns its artifact without running the builder.
    index = Artifact("index", "i" * 12, tmp_path / "index")
    index.path.mkdir(parents=True, exist_ok=True)
    (index.path / MANIFEST).write_text(json.dumps({"root": str(tmp_path / "dataset")}))
    exp.__dict__["index"] = index
    exp.store.build = exp.data_store.build = lambda art, builder, **kw: art
    exp.record = lambda art: None
    return exp


def stage_keys(tmp_path: Path, *overrides: str) -> dict[str, Any]:
    """Keys of the features, the baseline and each fine-tuning run {(fraction, repeat): key} of cosine C1+C2+C3."""
    exp = experiment(tmp_path, *overrides)
    prune = Artifact("prune", "p" * 12, tmp_path / "prune")
    prune.path.mkdir(parents=True, exist_ok=True)
    (prune.path / "row.json").write_text(json.dumps({"criterion": "cosine", "layers": "C1+C2+C3"}))
    repeats = int(exp.cfg["finetune"]["repeats"])
    runs = [(f, r) for f in exp.fractions_for("cosine", "C1+C2+C3") for r in range(repeats)]
    arts = exp.finetune(prune)
    assert len(arts) == len(runs)
    return {
        "features": exp.features.key,
        "train": exp.baseline.key,
        "finetune": dict(zip(runs, [a.key for a in arts], strict=True)),
    }


def test_speed_settings_do_not_change_keys(tmp_path: Path) -> None:
    base = stage_keys(tmp_path)
    fast = stage_keys(tmp_path, "features.batch_size=16", "features.workers=1", "train.eval_batch_size=7",
                      "finetune.eval_batch_size=7", "dataset.workers=1")  # fmt: skip
    assert fast == base


def test_train_change_keeps_the_features(tmp_path: Path) -> None:
    base = stage_keys(tmp_path)
    lr = stage_keys(tmp_path, "train.lr=0.002")
    assert lr["features"] == base["features"]
    assert lr["train"] != base["train"]
    mels = stage_keys(tmp_path, "features.n_mels=64")
    assert mels["features"] != base["features"] and mels["train"] != base["train"]


def test_fraction_selection_does_not_change_finetune_keys(tmp_path: Path) -> None:
    """Which fractions run is a selection: a fine-tuning run that happens in both configs must be reused."""
    base = stage_keys(tmp_path, "finetune.fractions=[0.5,1.0]")["finetune"]
    assert set(base) == {(0.5, 0), (1.0, 0)} and len(set(base.values())) == 2
    for override in [
        "finetune.fraction_criteria=[cosine]",
        "finetune.fraction_criteria=null",
        "finetune.fraction_layer_sets=[[C1,C2,C3]]",
        "finetune.fraction_layer_sets=null",
    ]:
        assert stage_keys(tmp_path, "finetune.fractions=[0.5,1.0]", override)["finetune"] == base, override
    assert stage_keys(tmp_path, "finetune.fractions=[1.0]")["finetune"] == {(1.0, 0): base[(1.0, 0)]}
    two = stage_keys(tmp_path, "finetune.fractions=[0.5,1.0]", "finetune.repeats=2")["finetune"]
    assert {k: two[k] for k in base} == base and two[(1.0, 1)] not in base.values()
    other_lr = stage_keys(tmp_path, "finetune.fractions=[0.5,1.0]", "finetune.lr=0.01")["finetune"]
    assert set(other_lr.values()).isdisjoint(base.values())
