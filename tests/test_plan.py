"""The plan from the config alone: keys without I/O, keys that follow the data, one way to say which runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from config_fixtures import composed  # the one way tests compose a config

from asc.core.errors import InputError
from asc.pipeline.plan import make_plan
from asc.pipeline.stages.prune_steps import criterion_config
from asc.pipeline.step import Step
from asc.pipeline.validate import ConfigError, validate


def keys(cfg: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for step in make_plan(cfg):
        out.setdefault(step.stage, []).append(step.key)
    return out


def test_the_plan_needs_no_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = composed(f"paths.data={tmp_path}/d", f"paths.store={tmp_path}/s")
    steps = make_plan(cfg)
    assert [s.stage for s in steps][:4] == ["dataset", "index", "features", "train"]
    assert not list(tmp_path.iterdir()), "planning must not write anything"
    ids = [s.id for s in steps]
    assert len(ids) == len(set(ids))
    by_id = {s.id: s for s in steps}
    for s in steps:  # every upstream is planned, and before it
        assert all(u.id in by_id and ids.index(u.id) < ids.index(s.id) for u in s.upstream)


def test_the_training_seed_rekeys_training_only() -> None:
    a, b = keys(composed("seed=0")), keys(composed("seed=1"))
    for stage in ("dataset", "index", "features"):
        assert a[stage] == b[stage], stage
    assert a["train"] != b["train"]
    assert set(a["prune"]).isdisjoint(b["prune"])  # downstream of the baseline


def test_the_validation_seed_rekeys_the_index_but_not_the_features() -> None:
    a, b = keys(composed()), keys(composed("dataset.validation.seed=1"))
    assert a["dataset"] == b["dataset"] and a["features"] == b["features"]
    assert a["index"] != b["index"] and a["train"] != b["train"]


def test_runtime_settings_never_change_a_key() -> None:
    a = keys(composed())
    b = keys(
        composed(
            "runtime.workers=7",
            "runtime.feature_batch_size=32",
            "runtime.eval_batch_size=8",
            "runtime.fuse=false",
            "runtime.channels_last=false",
            "runtime.device=cpu",
            "runtime.figures.formats=[svg]",
            "runtime.figures.dpi=72",
        )
    )
    assert a == b


def test_a_moved_tau_folder_keeps_every_key() -> None:
    base = ["experiment=paper_table1"]
    a = keys(composed(*base, "dataset.root=/data/a/TAU", "dataset.download_dir=/x"))
    b = keys(
        composed(*base, "dataset.root=/mnt/elsewhere/TAU", "paths.data=/y", "dataset.delete_archives=true")
    )
    assert a == b
    c = keys(composed(*base, "dataset.archives=[meta,audio.1]"))  # other content: other keys
    assert c["dataset"] != a["dataset"] and c["features"] != a["features"]


def test_selecting_a_prune_config_runs_just_it() -> None:
    steps = make_plan(composed("prune=l1"))
    prunes = [s for s in steps if s.stage == "prune"]
    assert [(s.config["name"], s.config["layers"]) for s in prunes] == [("l1", ["C1", "C2", "C3"])]
    # the demo blocks' fractions and repeats still apply: 0.25, 0.5, 1.0 once, and 1.0 three times (the
    # repeats block; its repeat 0 is the first block's run); the KD block's distilled run is a row of its own
    tuned = sorted(
        (s.args["fraction"], s.args["repeat"])
        for s in steps
        if s.stage == "finetune" and "distill" not in s.config
    )
    assert sum(s.stage == "finetune" and "distill" in s.config for s in steps) == 1
    assert tuned == [(0.25, 0), (0.5, 0), (1.0, 0), (1.0, 1), (1.0, 2)]
    one = make_plan(composed("prune=cosine", "prune.layers=[C2]"))
    assert [s.config["layers"] for s in one if s.stage == "prune"] == [["C2"]]


def test_a_multirun_pair_shares_everything_upstream() -> None:
    a, b = keys(composed("prune=cosine")), keys(composed("prune=l1"))
    for stage in ("dataset", "index", "features", "train"):
        assert a[stage] == b[stage]
    assert a["prune"] != b["prune"]


def test_the_paper_grid() -> None:
    steps = make_plan(composed("experiment=paper"))
    prunes = [s for s in steps if s.stage == "prune"]
    layer_sets = {tuple(s.config["layers"]) for s in prunes if s.config["name"] in ("cosine", "l1")}
    assert len(layer_sets) == 7
    assert Counter(s.config["name"] for s in prunes) == Counter(
        {
            "cosine": 7,
            "l1": 7,
            "chebyshev": 1,
            "average": 1,
            "random": 1,
            "l2": 1,
            "nystrom": 1,
            "centrality": 1,
            "fpgm": 1,
            "operator_norm": 1,
            "gm": 1,
        }
    )
    tunes = [s for s in steps if s.stage == "finetune"]
    curve = [s for s in tunes if s.label.startswith(("cosine C1+C2+C3", "l1 C1+C2+C3", "random C1+C2+C3"))]
    assert len(curve) == 3 * 11 * 5
    assert (
        len(tunes) == 14 * 5 + 9 * 5 + 3 * 10 * 5
    )  # fraction 1.0 of the curve is shared with the other blocks
    assert {s.args["repeat"] for s in tunes} == set(range(5))


def test_protocol_switches_compose() -> None:
    authors = composed("protocol=authors")
    assert authors["finetune"]["batch_size"] == 32 and authors["finetune"]["select_on"] == "test"
    assert authors["finetune"]["train_on"] == "fold1_train" and authors["finetune"]["subset"] == "shared"
    official = composed("protocol=official")
    assert official["dataset"]["validation"]["method"] == "official"
    assert official["features"]["stats_frames"] == 501
    # the authors drew one subset for every repeat: the subset seed is shared, the training seed is not
    tunes = [
        s
        for s in make_plan(
            dict(
                authors, runs=[{"criteria": ["cosine"], "layer_sets": None, "fractions": [0.5], "repeats": 3}]
            )
        )
        if s.stage == "finetune"
    ]
    assert len({s.args["subset_seed"] for s in tunes}) == 1 and len({s.args["seed"] for s in tunes}) == 3


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("criteria.l1.ratio=1.5", "criteria.l1.ratio"),
        ("+runs.0.bogus=1", "runs[0] keys"),
        ("prune=cosine prune.layers=[C9]", "prune.layers"),
        ("runs.0.fractions=[0]", "runs[0].fractions"),
        ("runs.0.fractions=[1.5]", "runs[0].fractions"),
        ("train.epochs=0", "train.epochs"),
        ("train.lr=abc", "train.lr"),
        ("finetune.select_on=train", "finetune.select_on"),
        ("runs.0.criteria=[foo]", "runs[0].criteria"),
        ("stage=evaluate", "stage"),
    ],
)
def test_every_value_is_checked_before_any_work(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(composed(*override.split()))
    assert str(err.value).startswith(key), err.value


def test_the_default_config_is_valid() -> None:
    validate(composed())
    validate(composed("experiment=paper", "protocol=official"))


def test_which_fractions_run_never_rekeys_a_run() -> None:
    """A fine-tuning run that two configs both contain has one key: choosing fractions is a selection."""

    def tunes(*blocks: str) -> dict[tuple[float, int], str]:
        cfg = composed("prune=cosine", f"runs=[{','.join(blocks)}]")
        return {
            (s.args["fraction"], s.args["repeat"]): s.key for s in make_plan(cfg) if s.stage == "finetune"
        }

    base = tunes("{criteria:[cosine],fractions:[0.5,1.0],repeats:1}")
    assert set(base) == {(0.5, 0), (1.0, 0)} and len(set(base.values())) == 2
    assert tunes("{criteria:[cosine],fractions:[1.0],repeats:1}") == {(1.0, 0): base[(1.0, 0)]}
    two = tunes("{criteria:[cosine],fractions:[0.5,1.0],repeats:2}")
    assert {k: two[k] for k in base} == base and two[(1.0, 1)] not in base.values()


def test_given_kept_file_is_keyed_on_its_content_not_its_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "moved.json"
    a.write_text('{"C1": [0, 1], "C2": [0, 1], "C3": [0, 1]}')
    b.write_text(a.read_text())

    def prune_step(path: Path) -> Step:
        cfg = composed("prune=given", f"prune.kept_file={path}")
        return next(s for s in make_plan(cfg) if s.stage == "prune")

    first, moved = prune_step(a), prune_step(b)
    assert first.key == moved.key  # same bytes elsewhere: the same artifact
    assert criterion_config(moved)["kept_file"] == str(b)  # the build still reads the file it was given
    a.write_text('{"C1": [2, 3], "C2": [0, 1], "C3": [0, 1]}')
    assert prune_step(a).key != first.key  # edited: pruned again
    with pytest.raises(InputError, match="prune.kept_file=.*does not exist"):
        prune_step(tmp_path / "nope.json")
