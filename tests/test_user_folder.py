"""A dataset folder the user brings (``dataset.download=false``) is keyed by what it holds (issue 17 item 1):
a changed folder re-keys everything built from it, the same folder moved elsewhere keeps every key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from config_fixtures import composed

from asc.pipeline.plan import make_plan

STAGES = ("dataset", "index", "features", "train")


def keys(root: Path) -> dict[str, str]:
    cfg = composed("dataset=tau2020mobile", "dataset.download=false", f"dataset.root={root}")
    return {s.stage: s.key for s in make_plan(cfg) if s.stage in STAGES}


def test_a_changed_folder_rekeys_and_a_moved_one_does_not(tiny_demo: Path, tmp_path: Path) -> None:
    mine = shutil.copytree(tiny_demo, tmp_path / "mine")
    before = keys(mine)
    moved = shutil.copytree(mine, tmp_path / "elsewhere" / "copy")
    assert keys(moved) == before  # the same content elsewhere: every artifact reused

    clip = next((mine / "audio").glob("*.wav"))
    clip.rename(tmp_path / clip.name)  # a clip missing (a partial copy)
    gone = keys(mine)
    assert all(gone[s] != before[s] for s in STAGES), gone
    (tmp_path / clip.name).rename(clip)  # added back: the first folder again
    assert keys(mine) == before

    meta = mine / "evaluation_setup" / "fold1_evaluate.csv"
    text = meta.read_text()
    meta.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())  # re-saved by a spreadsheet
    assert keys(mine) == before  # the same table: nothing rebuilt
    meta.write_text(text.replace("\tbus", "\ttram", 1))  # a label changed: everything downstream re-keyed
    assert all(keys(mine)[s] != before[s] for s in STAGES)


def test_a_complete_folder_is_keyed_by_content_even_with_download_left_on(
    tiny_demo: Path, tmp_path: Path
) -> None:
    """dataset.root pointed at a complete copy, dataset.download left at true: nothing is downloaded into it,
    so it is the user's folder and keyed as one (before, both folders got the archive list's keys)."""
    small = shutil.copytree(tiny_demo, tmp_path / "small")
    fold = small / "evaluation_setup" / "fold1_train.csv"
    fold.write_text("".join(fold.read_text().splitlines(keepends=True)[:-3]))  # three clips fewer

    def on(root: Path) -> dict[str, str]:
        cfg = composed("dataset=tau2020mobile", f"dataset.root={root}")
        return {s.stage: s.key for s in make_plan(cfg) if s.stage in STAGES}

    assert on(tiny_demo) == keys(tiny_demo)
    assert all(on(small)[s] != on(tiny_demo)[s] for s in STAGES)
    assert on(tmp_path / "not yet downloaded") == on(tmp_path / "elsewhere")  # asc downloads: the archives


def test_rows_of_two_folders_never_pool(tiny_demo: Path, tmp_path: Path) -> None:
    from asc.pipeline.stages.dataset import results_label

    other = shutil.copytree(tiny_demo, tmp_path / "other")
    fold = other / "evaluation_setup" / "fold1_train.csv"
    fold.write_text("".join(fold.read_text().splitlines(keepends=True)[:-3]))  # another, complete, copy

    def label(*overrides: str) -> str:
        cfg = composed(*overrides)
        return results_label(cfg, make_plan(cfg))

    mine = label("dataset=tau2020mobile", "dataset.download=false", f"dataset.root={tiny_demo}")
    theirs = label("dataset=tau2020mobile", f"dataset.root={other}")
    assert mine.startswith("tau2020mobile@") and theirs.startswith("tau2020mobile@") and mine != theirs
    assert label() == "demo" and label("dataset=demo1s") == "demo1s"
    assert label("dataset=tau2020mobile", f"dataset.root={tmp_path / 'empty'}") == "tau2020mobile"


@pytest.mark.slow
def test_the_index_of_a_completed_folder_is_rebuilt_not_reused(
    run_asc, tiny_demo: Path, tmp_path: Path
) -> None:
    """The reported fault: audio of five scenes missing, indexed; the audio added, rerun → the stale index was
    reused. Now the second run builds a new index that holds every clip."""
    mine = shutil.copytree(tiny_demo, tmp_path / "mine")
    aside = tmp_path / "aside"
    aside.mkdir()
    for scene in ("bus", "metro", "park", "tram", "airport"):
        for wav in (mine / "audio").glob(f"{scene}-*.wav"):
            wav.rename(aside / wav.name)
    args = [
        "dataset=tau2020mobile",
        "dataset.download=false",
        f"dataset.root={mine}",
        "stage=index",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    first = run_asc(*args, f"hydra.run.dir={tmp_path / 'run1'}", timeout=120)
    assert first.returncode == 0, first.output[-3000:]
    # the folder is read once per run: its missing audio is one warning (planning's read is the build's)
    assert first.output.count("have no audio") == 1, first.output[-3000:]
    for wav in aside.iterdir():
        wav.rename(mine / "audio" / wav.name)
    second = run_asc(*args, f"hydra.run.dir={tmp_path / 'run2'}", timeout=120)
    assert second.returncode == 0, second.output[-3000:]
    assert "index" in second.output and "built in" in second.output, second.output[-3000:]
    indexes = sorted((tmp_path / "store" / "index").glob("*/index.csv"), key=lambda p: p.stat().st_mtime)
    assert len(indexes) == 2
    counts = [len(pd.read_csv(p)) for p in indexes]
    assert counts[0] < counts[1] == sum(1 for _ in (mine / "audio").glob("*.wav"))
