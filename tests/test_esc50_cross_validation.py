"""ESC-50's 5-fold cross-validation (``dataset.fold=[1,2,3,4,5]``, asc/pipeline/cross_validation.py): every fold job
planned before any is built, each the single-fold job of before (its keys unchanged); rows carry their fold,
which the pooling key holds; the tables show mean ± std over folds and comparisons pair within folds; a bad fold
list is refused in one line. The slow test runs a tiny fake ESC-50 through ``asc.app.cli.run`` on two folds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from config_fixtures import NO_FIGURES, composed
from test_esc50_pipeline import CLASSES, PER_FOLD, esc_folder, tiny_esc50

from asc.app.cli import run
from asc.app.sweep import plan_job
from asc.core.errors import ConfigError
from asc.data import esc50
from asc.pipeline.cross_validation import fold_configs, folds_of, plan_folds
from asc.pipeline.plan import make_plan
from asc.report import compare, tables
from asc.report.rows import pooling_key, step_pooling_key


@pytest.fixture
def small_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(esc50, "CLIPS", 5 * CLASSES * PER_FOLD)


@pytest.fixture(scope="module")
def esc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return esc_folder(tmp_path_factory.mktemp("cv") / "esc")


def _cfg(tmp_path: Path, root: Path, *extra: str) -> dict:
    return composed(
        *tiny_esc50(root),
        "model.widths=[4,4,8]",
        "train.epochs=1",
        "train.select_after=0",
        "runs=[{criteria:[l1],layer_sets:null,fractions:[]}]",
        "quantise.enabled=false",
        "runtime.latency.measure=false",
        *NO_FIGURES,
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        *extra,
    )


def _plan(job: dict) -> tuple:
    return plan_job(job, prune_choice=None, overrides=[])


def test_fold_jobs_are_the_single_fold_jobs_planned_first(
    tmp_path: Path, esc_root: Path, small_set: None
) -> None:
    cv = _cfg(tmp_path, esc_root, "dataset.fold=[1,2,3,4,5]")
    jobs = fold_configs(cv)
    assert [j["dataset"]["fold"] for j in jobs] == [1, 2, 3, 4, 5] and cv["dataset"]["fold"] == [
        1,
        2,
        3,
        4,
        5,
    ]
    planned = plan_folds(cv, _plan)
    for fold, (job, (steps, _, _)) in enumerate(planned, 1):
        alone = make_plan(_cfg(tmp_path, esc_root, f"dataset.fold={fold}"))
        assert job["dataset"]["fold"] == fold
        assert [s.key for s in steps] == [s.key for s in alone]  # a fold of a CV is the single-fold artifact
    assert not (tmp_path / "store").exists()  # planning builds nothing
    one = _cfg(tmp_path, esc_root)  # an int: the one job of before
    assert folds_of(one["dataset"]) is None and fold_configs(one) == [one]


def test_the_pooling_key_holds_the_fold(tmp_path: Path, esc_root: Path, small_set: None) -> None:
    row = {"stage": "baseline", "criterion": "none", "seed": "0", "repeat": "0"}
    assert pooling_key(row)[-1] == "" and pooling_key({**row, "fold": "2"})[-1] == "2"
    assert pooling_key({**row, "fold": "2"}) != pooling_key({**row, "fold": "3"})
    keys = {}
    for fold in (1, 2):
        steps = make_plan(_cfg(tmp_path, esc_root, f"dataset.fold={fold}"))
        keys[fold] = {step_pooling_key(s) for s in steps if s.stage in ("train", "prune")}
        assert all(k[-1] == str(fold) for k in keys[fold])
    assert keys[1].isdisjoint(keys[2])  # two folds are never repeats of each other


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", r"dataset.fold=\[\] names no fold"),
        ("[1,1]", r"names fold 1 twice"),
        ("[1,x]", r"'x' is not a fold number"),
        ("[1,6]", r"fold 6 of \[1, 6\]: dataset.fold=6 is not an ESC-50 fold; choose 1-5"),
    ],
)
def test_a_bad_fold_list_is_refused_in_one_line_before_anything(
    tmp_path: Path, esc_root: Path, small_set: None, value: str, message: str
) -> None:
    cfg = _cfg(tmp_path, esc_root, f"dataset.fold={value}")
    with pytest.raises(ConfigError, match=message) as err:
        run(cfg)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "store").exists() and not (tmp_path / "results").exists()


def _rows() -> pd.DataFrame:
    """Three folds × two baseline seeds: baseline and l1 (no fine-tuning), l1 always 2 points below."""
    rows = []
    for fold in (1, 2, 3):
        for seed in (0, 1):
            acc = 0.5 + 0.1 * fold + 0.01 * seed
            common = {"dataset": "esc50", "fold": fold, "repeat": 0, "fraction": math.nan, "split": ""}
            rows.append({**common, "stage": "baseline", "criterion": "none", "layers": "", "seed": seed})
            rows[-1] |= {"accuracy": acc, "log_loss": 1.0, "finetuned": False, "run_id": f"b{fold}{seed}"}
            rows.append(
                {**common, "stage": "prune", "criterion": "l1", "layers": "C1", "baseline_seed": seed}
            )
            rows[-1] |= {
                "accuracy": acc - 0.02,
                "log_loss": 1.1,
                "finetuned": False,
                "run_id": f"p{fold}{seed}",
            }
    from asc.report.results import normalize

    return normalize(pd.DataFrame(rows))


def test_a_brought_folder_projects_its_training_time(tmp_path: Path, esc_root: Path, small_set: None) -> None:
    """ESC-50 declares no clip count (the kind's estimate is 0): the projection reads the index this job will
    build, so the dry run's time is not "0 s" (found by a trial run: "projected 0 s" for 1,280 examples)."""
    from asc.pipeline.eta import Projection, units_of
    from asc.pipeline.plan import approx_fold_clips

    cfg = _cfg(tmp_path, esc_root, "dataset.fold=2")
    assert approx_fold_clips(cfg) == 4 * CLASSES * PER_FOLD  # every clip outside test fold 2
    steps = make_plan(cfg)
    train = next(s for s in steps if s.stage == "train")
    assert units_of(cfg)(train) > 0
    total, sources, _ = Projection(cfg, "cpu").seconds([train])
    assert total > 0 and sources == {"train": "benchmark"}
    assert not (tmp_path / "store").exists()  # estimating builds nothing


def test_the_folds_disk_needs_are_added_up(
    tmp_path: Path, esc_root: Path, small_set: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fold jobs run one after the other and keep what they write: a disk that holds any one fold's plan but
    not the five together is refused at planning, in one line naming the folds (each fold's own check passed)."""
    from asc.core import disk

    cv = _cfg(tmp_path, esc_root, "dataset.fold=[1,2,3,4,5]")
    per_fold = [disk.planned_bytes(needs) for _, (_, _, needs) in plan_folds(cv, _plan)]
    assert min(per_fold) > 0
    monkeypatch.setattr(disk, "free_bytes", lambda path: disk.MARGIN + 2 * max(per_fold))
    for fold in (1, 5):  # each fold alone fits
        _plan(_cfg(tmp_path, esc_root, f"dataset.fold={fold}"))
    with pytest.raises(
        disk.DiskSpaceError, match=r"^the folds \[1, 2, 3, 4, 5\] together: not enough"
    ) as err:
        plan_folds(cv, _plan)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "store").exists()


def test_tables_show_mean_and_std_over_folds_and_pair_within_folds() -> None:
    df = _rows()
    summary = tables.summary_table(df)
    base = summary[summary["stage"] == "baseline"].iloc[0]
    means = [100 * (0.5 + 0.1 * f + 0.005) for f in (1, 2, 3)]  # each fold's two seeds averaged first
    assert base["folds"] == 3
    assert base["Accuracy (%)"].startswith(f"{np.mean(means):.1f} ± {np.std(means, ddof=1):.1f}")
    assert any("over folds" in n for n in summary.attrs["notes"])
    comp = compare.comparisons(df)
    acc = comp[(comp["metric"] == "accuracy") & (comp["b"] == compare.UNPRUNED)].iloc[0]
    # each run against its own fold's baseline of its seed: six pairs, every difference -2 points
    assert acc["n"] == 6 and acc["mean_diff"] == pytest.approx(-2.0)
    assert compare.baseline_of(df).shape[0] == 6
    crit = tables.criteria_table(df)
    assert (
        crit.loc[crit["Criterion"] == "l1", "Acc. no FT (%)"]
        .iloc[0]
        .startswith(f"{np.mean(means) - 2:.1f} ± {np.std(means, ddof=1):.1f}")
    )


def test_rows_without_folds_keep_their_tables() -> None:
    df = _rows().drop(columns="fold")
    df = df[df["run_id"].str.endswith("0") & df["run_id"].str.contains("1")]  # fold 1, seed 0: b10, p10
    summary = tables.summary_table(df)
    assert "folds" not in summary and not any("over folds" in n for n in summary.attrs["notes"])


@pytest.mark.slow
def test_two_fold_cross_validation_runs_end_to_end(tmp_path: Path, esc_root: Path, small_set: None) -> None:
    run(_cfg(tmp_path, esc_root, "dataset.fold=[1,2]"))
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert sorted(rows["fold"]) == [1, 1, 2, 2] and set(rows["stage"]) == {"baseline", "prune"}
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "folds" in summary and "over folds" in summary
    assert len(list((tmp_path / "store" / "train").glob("*/metrics.json"))) == 2
    steps = {s.id: s for f in (1, 2) for s in make_plan(_cfg(tmp_path, esc_root, f"dataset.fold={f}"))}
    as_read = pd.read_csv(tmp_path / "results" / "results.csv", dtype=str, keep_default_na=False)
    for row in as_read.to_dict("records"):  # what planning refuses to pool is what the report pools by
        assert pooling_key(row) == step_pooling_key(steps[row["run_id"]]), row["run_id"]


def test_a_sweep_checks_each_jobs_folds(tmp_path: Path, esc_root: Path, small_set: None) -> None:
    """``asc -m ... dataset.fold=[1,6]``: the sweep's pre-check plans every fold of every job (asc/app/sweep.py)."""
    from hydra import initialize_config_dir

    from asc.app.cli import check_recipe_choices
    from asc.app.sweep import BASIC_SWEEPER, check_sweep
    from asc.core.config_files import CONF_DIR

    task = [
        *tiny_esc50(esc_root),
        "prune=l1,cosine",
        "stage=prune",
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert (
            check_sweep([*task, "dataset.fold=[1,2]"], BASIC_SWEEPER, check_recipe_choices, str(tmp_path))
            == 2
        )
        with pytest.raises(
            ConfigError, match=r"^sweep job 1 of 2 \(prune=l1\): fold 6 of \[1, 6\]: dataset.fold=6"
        ):
            check_sweep([*task, "dataset.fold=[1,6]"], BASIC_SWEEPER, check_recipe_choices, str(tmp_path))
    assert not (tmp_path / "store").exists()
