"""folder_identity: a user's dataset folder is keyed by what it holds, not where it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asc.core.errors import InputError
from asc.data.fingerprint import folder_identity


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "meta.csv").write_text("filename\tscene_label\naudio/a.wav\tbus\n")
    for name in ("fold1_train.csv", "fold1_evaluate.csv", "fold1_test.csv"):
        (root / "evaluation_setup" / name).write_text(f"filename\n{name}\n")
    for i in range(3):
        (root / "audio" / f"bus-lisbon-1-{i}-a.wav").write_bytes(bytes([i]) * (100 + i))
    return root


def test_moving_the_folder_keeps_the_identity(folder: Path, tmp_path: Path) -> None:
    before = folder_identity(folder)
    moved = shutil.move(folder, tmp_path / "elsewhere" / "TAU")
    assert folder_identity(moved) == before
    copied = shutil.copytree(moved, tmp_path / "copied")  # new mtimes, same content
    assert folder_identity(copied) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "audio" / "bus-lisbon-1-9-a.wav").write_bytes(b"x"),  # a clip added
        lambda r: (r / "audio" / "bus-lisbon-1-0-a.wav").unlink(),  # a clip removed
        lambda r: (r / "audio" / "bus-lisbon-1-1-a.wav").write_bytes(b"y" * 7),  # resized
        lambda r: (r / "audio" / "bus-lisbon-1-1-a.wav").rename(r / "audio" / "bus-lisbon-1-1-b.wav"),
        lambda r: (r / "meta.csv").write_text(
            "filename\tscene_label\naudio/a.wav\ttram\n"
        ),  # metadata edited
        lambda r: (r / "evaluation_setup" / "fold1_train.csv").write_text("filename\n"),
        lambda r: (r / "evaluation_setup" / "fold2_train.csv").write_text("filename\n"),
    ],
    ids=["added", "removed", "resized", "renamed", "meta", "fold", "new-fold-file"],
)
def test_what_the_folder_holds_changes_the_identity(folder: Path, change) -> None:
    before = folder_identity(folder)
    change(folder)
    assert folder_identity(folder) != before


def test_same_size_edit_is_seen_only_with_the_full_hash(folder: Path) -> None:
    fast, full = folder_identity(folder), folder_identity(folder, full_hash=True)
    assert full != fast and full["audio"]["content"] == "sha256"
    (folder / "audio" / "bus-lisbon-1-2-a.wav").write_bytes(b"z" * 102)  # same size, other bytes
    assert folder_identity(folder) == fast  # documented: size only
    assert folder_identity(folder, full_hash=True) != full


def test_markers_and_other_files_are_not_covered(folder: Path) -> None:
    before = folder_identity(folder)
    (folder / ".extracted").mkdir()
    (folder / ".extracted" / "meta.zip").write_text("done")
    (folder / "README.md").write_text("hello")
    (folder / "audio" / ".bus.wav.host-1.tmp").write_bytes(b"partial")
    assert folder_identity(folder) == before


def test_summary_and_symlinked_audio(folder: Path, tmp_path: Path) -> None:
    ident = folder_identity(folder)
    assert ident["audio"]["files"] == 3 and ident["audio"]["bytes"] == 303
    assert set(ident["metadata"]) == {
        "meta.csv",
        "evaluation_setup/fold1_train.csv",
        "evaluation_setup/fold1_evaluate.csv",
        "evaluation_setup/fold1_test.csv",
    }
    linked = tmp_path / "linked"
    shutil.copytree(folder, linked, ignore=shutil.ignore_patterns("*.wav"))
    for wav in (folder / "audio").iterdir():
        (linked / "audio" / wav.name).symlink_to(wav)
    assert folder_identity(linked) == ident
    (linked / "audio" / "bus-lisbon-1-0-a.wav").unlink()
    (linked / "audio" / "bus-lisbon-1-0-a.wav").symlink_to(tmp_path / "nowhere.wav")  # broken: absent
    assert folder_identity(linked)["audio"]["files"] == 2


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere.*dataset.root"):
        folder_identity(tmp_path / "nowhere")
