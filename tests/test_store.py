"""The config-keyed artifact store, and the keys the pipeline derives from the config."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from asc.pipeline.store import MANIFEST, Store, config_key

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
    with caplog.at_level(logging.INFO, logger="asc.pipeline.store"):
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
    with caplog.at_level(logging.INFO, logger="asc.pipeline.store"):
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

    with caplog.at_level(logging.INFO, logger="asc.pipeline.store"):
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
