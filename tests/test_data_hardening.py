"""Data-layer hardening (issue 11): concurrent jobs on one data folder (item 1), the whole disk plan checked up
front (item 3), zip members that are not plain files refused (item 9)."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from http_fixtures import (
    PREFIX,
    TOP,
    FileServer,
    make_zip,
    md5,
    tau_audio_zip,
    tau_meta_zip,
    tiny_wav,
    write,
)
from reliability_fixtures import GB, fake_disks

from asc.core.disk import DATASET_FIX, DiskSpaceError, Need, check_disk
from asc.data import archive
from asc.data.archive import UnsafeArchiveError, extract, is_extracted
from asc.data.checksums import Archive
from asc.data.prepare import disk_plan, prepare_archive, prepare_tau

# ------------------------------------------------------------------------------------ item 9: member types


def typed_zip(name: str, mode: int, data: bytes = b"/etc/passwd") -> bytes:
    """A zip with one plain file and one member of the given Unix mode (as Info-ZIP stores it)."""
    buf = zipfile.ZipFile(out := io.BytesIO(), "w")
    with buf:
        buf.writestr(f"{TOP}/meta.csv", b"ok")
        info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
        info.create_system, info.external_attr = 3, mode << 16
        buf.writestr(info, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "word"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFCHR | 0o600, "character device"),
        (stat.S_IFBLK | 0o600, "block device"),
        (stat.S_IFIFO | 0o644, "FIFO"),
        (stat.S_IFSOCK | 0o755, "socket"),
    ],
)
def test_non_regular_members_are_refused(tmp_path: Path, mode: int, word: str) -> None:
    z = write(tmp_path / "odd.zip", typed_zip("audio/link.wav", mode))
    out = tmp_path / "a" / "root"
    with pytest.raises(UnsafeArchiveError) as err:
        extract(z, out, progress=False)
    assert (
        "odd.zip" in str(err.value) and f"{TOP}/audio/link.wav" in str(err.value) and word in str(err.value)
    )
    assert not (tmp_path / "a").exists()  # refused before anything is written


def test_regular_unix_modes_are_accepted(tmp_path: Path) -> None:
    z = write(tmp_path / "ok.zip", typed_zip("audio/x.wav", stat.S_IFREG | 0o644, b"wav"))
    extract(z, tmp_path / "root", progress=False)
    assert (tmp_path / "root" / "audio" / "x.wav").read_bytes() == b"wav"


def test_member_below_a_file_is_refused(tmp_path: Path) -> None:
    # Once a symlink "audio" was written as a plain file, "audio/x.wav" crashed with a raw FileExistsError.
    z = write(tmp_path / "clash.zip", make_zip({f"{TOP}/audio": b"x", f"{TOP}/audio/x.wav": b"y"}))
    with pytest.raises(UnsafeArchiveError, match=r"clash\.zip.*audio/x\.wav.*'audio', which is a file"):
        extract(z, tmp_path / "root", progress=False)


# --------------------------------------------------------------------------------- item 1: concurrent jobs


def slow_counting_copy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count member copies (shared by all threads) and slow them so that two extractions would overlap."""
    real, copied = archive._copy_member, []

    def copy(src, dst):
        copied.append(src.name)  # the member name
        time.sleep(0.05)
        real(src, dst)

    monkeypatch.setattr(archive, "_copy_member", copy)
    return copied


def run_threads(n: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_concurrent_extractions_extract_each_file_once(tmp_path: Path, monkeypatch) -> None:
    copied = slow_counting_copy(monkeypatch)
    z = write(tmp_path / "audio.1.zip", tau_audio_zip())
    assert run_threads(4, lambda: extract(z, tmp_path / "root", progress=False)) == []
    assert len(copied) == 2  # two members, each written once
    assert len(list((tmp_path / "root" / "audio").glob("*.wav"))) == 2
    assert not list(tmp_path.rglob("*.extracting"))


def test_concurrent_prepare_fetches_and_extracts_once(tmp_path: Path, monkeypatch) -> None:
    copied = slow_counting_copy(monkeypatch)
    data = tau_audio_zip()
    a = Archive(f"{PREFIX}audio.1.zip", len(data), md5(data))
    with FileServer({a.name: data}) as server:
        errors = run_threads(
            3,
            lambda: prepare_archive(
                a,
                root=tmp_path / "root",
                download_dir=tmp_path / "zips",
                base_url=server.base_url,
                delete=True,
                progress=False,
            ),
        )
    assert errors == []
    assert len(server.requests) == 1 and len(copied) == 2
    assert is_extracted(a.name, tmp_path / "root") and not (tmp_path / "zips" / a.name).exists()


TRAINED_LOCATIONS = ("lisbon-1000", "lisbon-1001")  # the grouped hold-out takes one, one stays to train on


def tiny_mirror(n_pad: int = 150, train_locations: tuple[str, ...] = TRAINED_LOCATIONS) -> dict[str, bytes]:
    """meta + one audio zip (clips of 0.1 s, so dataset.clip_seconds=0.1), padded with small unlisted files so
    that an extraction takes long enough for two jobs to meet. fold1_train holds one airport clip per location
    in ``train_locations``: with one location the hold-out leaves no clip to train on (planning refuses)."""
    train = [f"audio/airport-{loc}-4000{i}-a.wav" for i, loc in enumerate(train_locations)]
    evaluate = "audio/bus-paris-10-400-s1.wav"
    meta = b"filename\tscene_label\tidentifier\tsource_label\n" + b"".join(
        f"{name}\tairport\t{name.split('-', 1)[1].rsplit('-', 2)[0]}\ta\n".encode() for name in train
    )
    meta += f"{evaluate}\tbus\tparis-10\ts1\n".encode()
    members = {
        f"{TOP}/meta.csv": meta,
        f"{TOP}/evaluation_setup/fold1_train.csv": b"filename\tscene_label\n"
        + b"".join(f"{n}\tairport\n".encode() for n in train),
        f"{TOP}/evaluation_setup/fold1_evaluate.csv": f"filename\tscene_label\n{evaluate}\tbus\n".encode(),
        f"{TOP}/evaluation_setup/fold1_test.csv": f"filename\n{evaluate}\n".encode(),
    }
    audio = {f"{TOP}/{n}": tiny_wav(4410, seed=i) for i, n in enumerate([*train, evaluate])}
    audio.update({f"{TOP}/doc/pad{i:03d}.txt": bytes(2048) for i in range(n_pad)})
    return {f"{PREFIX}meta.zip": make_zip(members), f"{PREFIX}audio.1.zip": make_zip(audio)}


def two_jobs_on_one_folder(tmp_path: Path, files: dict[str, bytes]) -> tuple[list[int], list[str], int]:
    """Two CLI jobs (stage=index) started together on one empty data folder served by a local mirror: one
    downloads and extracts, the other waits. Returns their exit codes, outputs and the mirror's request count."""
    from omegaconf import OmegaConf

    repo = Path(__file__).resolve().parents[1]
    cfg = OmegaConf.load(repo / "conf/dataset/tau2020mobile.yaml")
    for name, data in files.items():
        cfg.files[name.removeprefix(PREFIX).removesuffix(".zip")] = {"bytes": len(data), "md5": md5(data)}
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    OmegaConf.save(cfg, tmp_path / "conf" / "dataset" / "mirror.yaml")
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with FileServer(files) as server:
        jobs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "asc",
                    f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                    "dataset=mirror",
                    "train=demo",
                    "finetune=demo",
                    f"dataset.base_url={server.base_url}",
                    "dataset.archives=[meta,audio.1]",
                    "dataset.clip_seconds=0.1",
                    f"paths.data={tmp_path / 'data'}",
                    f"paths.store={tmp_path / 'store'}",
                    f"paths.results={tmp_path / 'results'}",
                    f"hydra.run.dir={tmp_path / f'run{k}'}",
                    "stage=index",
                ],
                cwd=repo,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for k in range(2)
        ]
        outputs = [job.communicate(timeout=300)[0] for job in jobs]
        requests = len(server.requests)
    return [job.returncode for job in jobs], outputs, requests


@pytest.mark.slow
def test_two_cli_jobs_on_one_data_folder(tmp_path: Path) -> None:
    files = tiny_mirror()
    codes, outputs, requests = two_jobs_on_one_folder(tmp_path, files)
    for code, out in zip(codes, outputs, strict=True):
        assert code == 0, out[-3000:]
    extracted = re.findall(r"\bextracted (\S+\.zip) into", "".join(outputs))
    assert sorted(extracted) == sorted(files), "\n".join(o[-2000:] for o in outputs)  # each archive once
    assert requests == 2  # each archive downloaded once
    root = tmp_path / "data" / TOP
    assert len(list((root / "audio").glob("*.wav"))) == 3 and not list(root.rglob("*.extracting"))
    assert len(list((tmp_path / "store" / "index").glob("*/manifest.json"))) == 1  # both jobs: one index


@pytest.mark.slow
def test_two_cli_jobs_refuse_the_same_data_alike(tmp_path: Path) -> None:
    """Data that planning refuses (the hold-out leaves fold1_train without a clip to train on) is refused by
    both jobs, whether a job planned before the data arrived or after, and no index is built from it."""
    codes, outputs, _ = two_jobs_on_one_folder(tmp_path, tiny_mirror(train_locations=("lisbon-1000",)))
    for code, out in zip(codes, outputs, strict=True):
        assert code != 0, out[-3000:]
        assert "the index would hold no train clip" in out, out[-3000:]
    assert not list((tmp_path / "store").glob("index/*"))


# ------------------------------------------------------------------------------------ item 3: disk plan


def big_archives() -> list[Archive]:
    return [Archive(f"{PREFIX}audio.{i}.zip", 2 * GB, "0" * 32) for i in (1, 2, 3)]


def test_plan_counts_downloads_extraction_and_features(tmp_path: Path) -> None:
    archives = big_archives()
    extracted = {a.name: 3 * GB for a in archives}
    (tmp_path / "root" / ".extracted").mkdir(parents=True)
    (tmp_path / "root" / ".extracted" / archives[0].name).write_text("done")  # audio.1 needs nothing more
    write(tmp_path / "zips" / f"{archives[1].name}.part", bytes(1000))  # audio.2 half-way: 1000 bytes fewer
    kw = {
        "root": tmp_path / "root",
        "download_dir": tmp_path / "zips",
        "extracted": extracted,
        "features_dir": tmp_path / "features",
        "features": 5,
    }
    keep = disk_plan(archives, delete_archives=False, **kw)
    assert [(n.path.name, n.bytes) for n in keep] == [
        ("zips", 4 * GB - 1000),
        ("root", 6 * GB),
        ("features", 5),
    ]
    delete = disk_plan(archives, delete_archives=True, **kw)
    assert [(n.path.name, n.bytes) for n in delete] == [("zips", 2 * GB), ("root", 6 * GB), ("features", 5)]


def test_plan_reads_a_downloaded_zip_and_skips_extracted_members(tmp_path: Path) -> None:
    data = make_zip({f"{TOP}/audio/a.wav": bytes(300), f"{TOP}/audio/b.wav": bytes(500)})
    a = Archive(f"{PREFIX}audio.1.zip", len(data), md5(data))
    write(tmp_path / "zips" / a.name, data)
    write(tmp_path / "root" / "audio" / "a.wav", bytes(300))  # extracted by an interrupted run
    (need,) = disk_plan(
        [a],
        root=tmp_path / "root",
        download_dir=tmp_path / "zips",
        extracted={a.name: 10**12},
        delete_archives=False,
    )
    assert (need.path, need.bytes) == (tmp_path / "root", 500)  # the central directory, not the estimate


def test_fallback_estimate_without_config_size(tmp_path: Path) -> None:
    a = Archive(f"{PREFIX}audio.1.zip", 1000, "0" * 32)
    plan = disk_plan(
        [a], root=tmp_path / "r", download_dir=tmp_path / "z", extracted={}, delete_archives=False
    )
    assert [n.bytes for n in plan] == [1000, 1150]


def test_check_disk_adds_up_per_file_system_and_names_the_fix(tmp_path: Path, monkeypatch) -> None:
    fake_disks(monkeypatch, tmp_path, {"fast": 10 * GB, "big": 100 * GB})
    plan = [
        Need(tmp_path / "fast" / "zips", 6 * GB, "6 zip(s)", DATASET_FIX),
        Need(tmp_path / "fast" / "tau", 6 * GB, "extract", DATASET_FIX),
        Need(tmp_path / "big" / "features", 2 * GB, "features"),
    ]
    with pytest.raises(DiskSpaceError) as err:
        check_disk(plan)
    message = str(err.value)
    assert "free 9.3 GiB" in message and str(tmp_path / "fast" / "zips") in message
    assert "features" not in message  # the big disk is fine: not listed as short
    assert "dataset.delete_archives=true" in message and "paths.data" in message
    check_disk(plan[:1] + plan[2:])  # fits: no error


def test_prepare_refuses_a_short_disk_before_any_download(tmp_path: Path, monkeypatch) -> None:
    meta, audio = tau_meta_zip(), tau_audio_zip()
    files = {
        "prefix": PREFIX,
        "suffix": ".zip",
        "meta": {"bytes": len(meta), "md5": md5(meta), "extracted": 10_000},
        "audio.1": {"bytes": len(audio), "md5": md5(audio), "extracted": 40 * GB},
    }
    fake_disks(monkeypatch, tmp_path, {"data": 30 * GB})
    with FileServer({f"{PREFIX}meta.zip": meta, f"{PREFIX}audio.1.zip": audio}) as server:
        cfg = {
            "root": str(tmp_path / "data" / "root"),
            "download_dir": str(tmp_path / "data" / "zips"),
            "base_url": server.base_url,
            "archives": ["meta", "audio.1"],
            "files": files,
            "expected_counts": {"train": 1, "evaluate": 1},
        }
        with pytest.raises(DiskSpaceError, match=r"(?s)extracting 2 archive\(s\).*features.*delete_archives"):
            prepare_tau(cfg, progress=False, features_dir=tmp_path / "data" / "features")
        assert server.requests == []
        fake_disks(monkeypatch, tmp_path, {"data": 50 * GB})
        prepare_tau(cfg, progress=False, features_dir=tmp_path / "data" / "features")
    assert (tmp_path / "data" / "root" / "meta.csv").is_file()
