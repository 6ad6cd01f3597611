"""Issue 18 item 5 (and the data side of item 1): extraction never writes through a planted link, a zip left by a
kill after its extraction is deleted on the next run, a download that meets a full disk says so at once, and the
README's disk figures are what the check requires."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from config_fixtures import composed
from http_fixtures import PREFIX, TOP, FileServer, make_zip, md5, tau_audio_zip, tau_meta_zip, write
from reliability_fixtures import REPO_ROOT, mounted_tmpfs

from asc.core import disk
from asc.core.atomic import temp_path
from asc.core.disk import MARGIN, DiskFullError, feature_bytes
from asc.data.archive import MARKER_DIR, extract, is_extracted
from asc.data.checksums import Archive
from asc.data.prepare import _extracted_sizes, _feature_clips, disk_plan, prepare_tau
from asc.data.zenodo import archives_from_config, fetch

MEMBER = f"{TOP}/meta.csv"


@pytest.mark.parametrize("planted", [".meta.csv.extracting", "meta.csv"])
def test_extraction_never_writes_through_a_planted_link(tmp_path: Path, planted: str) -> None:
    """The fixed temp name ``.<name>.extracting`` (or the final name) as a link to a file outside the dataset."""
    victim = write(tmp_path / "victim.txt", b"precious")
    root = tmp_path / "root"
    root.mkdir()
    (root / planted).symlink_to(victim)
    z = write(tmp_path / "meta.zip", make_zip({MEMBER: b"new content"}))
    extract(z, root, progress=False)
    assert victim.read_bytes() == b"precious"
    assert (root / "meta.csv").read_bytes() == b"new content" and not (root / "meta.csv").is_symlink()
    assert sorted(p.name for p in root.iterdir()) == [MARKER_DIR, "meta.csv"]  # no temp file, no link


def test_a_killed_extractions_temp_files_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    dead = write(temp_path(root / "audio" / "x.wav", pid=2**22 + 1), b"half")  # above Linux's pid_max: dead
    z = write(tmp_path / "audio.1.zip", tau_audio_zip())
    extract(z, root, progress=False)
    assert not dead.exists() and len(list((root / "audio").iterdir())) == 2


def test_zip_left_by_a_kill_after_extraction_is_deleted_next_run(tmp_path: Path) -> None:
    meta, audio = tau_meta_zip(), tau_audio_zip()
    names = {"meta": meta, "audio.1": audio}
    files = {"prefix": PREFIX, "suffix": ".zip"}
    files.update({k: {"bytes": len(v), "md5": md5(v)} for k, v in names.items()})
    cfg = {
        "root": str(tmp_path / "root"),
        "download_dir": str(tmp_path / "zips"),
        "archives": list(names),
        "files": files,
        "delete_archives": True,
        "base_url": "http://127.0.0.1:9/unused",
    }
    # The state a job killed between writing audio.1's extraction marker and deleting its zip leaves behind.
    for key, data in names.items():
        zip_path = write(tmp_path / "zips" / f"{PREFIX}{key}.zip", data)
        extract(zip_path, tmp_path / "root", progress=False)
    left = tmp_path / "zips" / f"{PREFIX}audio.1.zip"
    assert left.exists() and is_extracted(left.name, tmp_path / "root")
    prepare_tau(cfg, progress=False)  # nothing to download: every archive is extracted
    assert sorted(p.name for p in (tmp_path / "zips").iterdir()) == []


def test_download_into_a_full_disk_is_one_line_not_retried(tmp_path: Path, monkeypatch) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    a = Archive(f"{PREFIX}audio.1.zip", len(data), md5(data))
    monkeypatch.setattr(disk, "free_bytes", lambda path: 10**12)  # the up-front check is passed (a race)
    with mounted_tmpfs(tmp_path / "small", size="64k") as small, FileServer({a.name: data}) as server:
        with pytest.raises(DiskFullError) as err:
            fetch([a], server.base_url, small, retries=5, backoff=0.01, progress=False)
        assert len(server.requests) == 1  # a full disk is not a network fault: no retry
    assert str(small) in str(err.value) and a.name in str(err.value) and "\n" not in str(err.value)


def test_readme_disk_figures_are_what_the_check_requires() -> None:
    cfg = composed("dataset=tau2020mobile")["dataset"]
    selected = archives_from_config(cfg["files"], list(cfg["archives"]))
    extracted = _extracted_sizes(cfg["files"])
    features = feature_bytes(_feature_clips(cfg, selected, extracted))
    nowhere = Path("/nonexistent")
    required = {}
    for delete in (False, True):
        plan = disk_plan(
            selected,
            root=nowhere / "root",
            download_dir=nowhere / "zips",
            extracted=extracted,
            delete_archives=delete,
            features_dir=nowhere / "features",
            features=features,
        )
        required[delete] = (sum(n.bytes for n in plan) + MARGIN) / 1e9
    section = (REPO_ROOT / "README.md").read_text().split("## The real dataset")[1].split("\n## ")[0]
    figures = [float(x) for x in re.findall(r"≈ (\d+\.\d) GB free", section)]
    assert figures == [round(required[False], 1), round(required[True], 1)], (figures, required)
