"""Extraction tests: top-folder stripping, path-traversal guard, idempotence and resume."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from http_fixtures import TOP, make_zip, tau_audio_zip, tau_meta_zip, write

from asc.data import archive
from asc.data.archive import UnsafeArchiveError, extract, is_extracted


def tree(root: Path) -> list[str]:
    """Files under root, without the extraction lock files (left in place: deleting a lock file races)."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
    )


def test_extract_strips_top_folder(tmp_path: Path) -> None:
    z = write(tmp_path / "meta.zip", tau_meta_zip())
    out = tmp_path / "root"
    assert extract(z, out, progress=False) == out
    assert tree(out) == [
        ".extracted/meta.zip",
        "evaluation_setup/fold1_evaluate.csv",
        "evaluation_setup/fold1_test.csv",
        "evaluation_setup/fold1_train.csv",
        "meta.csv",
    ]
    assert is_extracted("meta.zip", out) and z.exists()


@pytest.mark.parametrize(
    "bad",
    [
        f"{TOP}/../../evil.txt",
        "../evil.txt",
        "/tmp/asc-abs-evil.txt",
        "C:/evil.txt",
        "C:\\evil.txt",
        f"{TOP}\\..\\..\\evil.txt",
    ],
)
def test_unsafe_member_refused_before_writing(tmp_path: Path, bad: str) -> None:
    # A good member comes first: it must not be written either.
    z = write(tmp_path / "zips" / "bad.zip", make_zip({f"{TOP}/ok.txt": b"ok", bad: b"pwned"}))
    out = tmp_path / "a" / "b" / "root"
    with pytest.raises(UnsafeArchiveError) as err:
        extract(z, out, progress=False)
    assert repr(bad) in str(err.value) and "bad.zip" in str(err.value)
    assert not (tmp_path / "a").exists()  # target untouched (not even created)
    assert not Path("/tmp/asc-abs-evil.txt").exists()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["bad.zip"]


def test_existing_target_untouched_by_unsafe_zip(tmp_path: Path) -> None:
    out = tmp_path / "root"
    write(out / "keep.txt", b"mine")
    z = write(tmp_path / "bad.zip", make_zip({f"{TOP}/meta.csv": b"x", f"{TOP}/../evil": b"y"}))
    with pytest.raises(UnsafeArchiveError):
        extract(z, out, progress=False)
    assert tree(out) == ["keep.txt"]
    assert not (tmp_path / "evil").exists()


def test_second_extract_is_a_noop(tmp_path: Path, monkeypatch) -> None:
    z = write(tmp_path / "audio.1.zip", tau_audio_zip())
    out = tmp_path / "root"
    extract(z, out, progress=False)

    def must_not_open(*a, **k):
        raise AssertionError("zip opened again")

    monkeypatch.setattr(zipfile, "ZipFile", must_not_open)
    assert extract(z, out, progress=False) == out
    assert len(list((out / "audio").glob("*.wav"))) == 2


def test_interrupted_extraction_resumes(tmp_path: Path, monkeypatch) -> None:
    z = write(tmp_path / "audio.1.zip", tau_audio_zip())
    out = tmp_path / "root"
    real, copied = archive._copy_member, []

    def crash_after_first(src, dst):
        if copied:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-way
        copied.append(dst.name)
        real(src, dst)

    monkeypatch.setattr(archive, "_copy_member", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        extract(z, out, progress=False)
    assert not is_extracted(z.name, out)
    [first] = list((out / "audio").glob("*.wav"))  # complete files only carry their final name
    mtime = first.stat().st_mtime_ns

    monkeypatch.setattr(archive, "_copy_member", lambda src, dst: copied.append(dst.name) or real(src, dst))
    extract(z, out, progress=False)
    assert len(copied) == 2  # only the missing member was written the second time
    assert first.stat().st_mtime_ns == mtime
    assert len(list((out / "audio").glob("*.wav"))) == 2
    assert is_extracted(z.name, out)


def test_delete_after_only_after_complete_extraction(tmp_path: Path) -> None:
    z = write(tmp_path / "meta.zip", tau_meta_zip())
    bad = write(tmp_path / "bad.zip", make_zip({f"{TOP}/x": b"x", "../y": b"y"}))
    with pytest.raises(UnsafeArchiveError):
        extract(bad, tmp_path / "root", delete_after=True, progress=False)
    assert bad.exists()
    extract(z, tmp_path / "root", delete_after=True, progress=False)
    assert not z.exists() and (tmp_path / "root" / "meta.csv").is_file()
    extract(z, tmp_path / "root", delete_after=True, progress=False)  # marker: no zip needed any more


def test_strip_top_requires_one_top_folder(tmp_path: Path) -> None:
    z = write(tmp_path / "mixed.zip", make_zip({"a/x.txt": b"1", "b/y.txt": b"2"}))
    with pytest.raises(ValueError, match="top folder"):
        extract(z, tmp_path / "root", progress=False)
    extract(z, tmp_path / "flat", strip_top=False, progress=False)
    assert tree(tmp_path / "flat") == [".extracted/mixed.zip", "a/x.txt", "b/y.txt"]


def test_corrupt_member_is_not_left_under_its_final_name(tmp_path: Path) -> None:
    data = bytearray(make_zip({f"{TOP}/meta.csv": b"A" * 1000}))
    data[data.index(b"A" * 10)] ^= 0x01  # stored member: flip a payload byte, the CRC no longer matches
    z = write(tmp_path / "crc.zip", bytes(data))
    with pytest.raises(zipfile.BadZipFile):
        extract(z, tmp_path / "root", progress=False)
    assert tree(tmp_path / "root") == []  # neither the member nor its temporary file
    assert not is_extracted(z.name, tmp_path / "root")
