"""Downloader tests against a local HTTP server (no network): resume, retries, checksums, disk space, caching."""

from __future__ import annotations

from pathlib import Path

import pytest
from http_fixtures import PREFIX, Faults, FileServer, md5, tau_audio_zip, tau_meta_zip
from omegaconf import OmegaConf

from asc.core import disk
from asc.core.disk import DiskSpaceError, human_bytes
from asc.data import checksums
from asc.data.archive import extract
from asc.data.checksums import Archive
from asc.data.http_download import DownloadError
from asc.data.zenodo import archives_from_config, fetch

META, AUDIO = f"{PREFIX}meta.zip", f"{PREFIX}audio.1.zip"
FAST = {"backoff": 0.01, "timeout": 5.0, "progress": False}
CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset" / "tau2020mobile.yaml"


@pytest.fixture
def blobs() -> dict[str, bytes]:
    return {META: tau_meta_zip(), AUDIO: tau_audio_zip()}


def archive(blobs: dict[str, bytes], name: str) -> Archive:
    return Archive(name, len(blobs[name]), md5(blobs[name]))


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.suffix in {".part", ".zip"})


def test_full_download_and_extract(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    dest, root = tmp_path / "dl", tmp_path / "TAU"
    with FileServer(dict(blobs)) as srv:
        paths = fetch([archive(blobs, META), archive(blobs, AUDIO)], srv.base_url, dest, **FAST)
    assert paths == [dest / META, dest / AUDIO]
    assert [p.read_bytes() for p in paths] == [blobs[META], blobs[AUDIO]]
    assert [r.path for r in srv.requests] == [f"/files/{META}", f"/files/{AUDIO}"]
    assert all(r.range is None and r.status == 200 for r in srv.requests)
    assert leftovers(dest) == [AUDIO, META]  # no part files
    for p in paths:
        extract(p, root, progress=False)
    assert (root / "meta.csv").read_bytes().startswith(b"filename\tscene_label")
    assert (root / "evaluation_setup" / "fold1_train.csv").is_file()
    assert len(list((root / "audio").glob("*.wav"))) == 2


def test_cut_connection_resumes_with_range(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    size, k = len(blobs[AUDIO]), 1000
    with FileServer(dict(blobs), {AUDIO: Faults(cut_after=k, cut_times=1)}) as srv:
        fetch([archive(blobs, AUDIO)], srv.base_url, tmp_path, **FAST)
    first, second = srv.requests
    assert (first.range, first.sent) == (None, k)
    assert (second.range, second.status, second.sent) == (f"bytes={k}-", 206, size - k)
    assert (tmp_path / AUDIO).read_bytes() == blobs[AUDIO]
    assert not (tmp_path / f"{AUDIO}.part").exists()


def test_part_file_from_earlier_run_is_resumed(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    (tmp_path / f"{AUDIO}.part").write_bytes(blobs[AUDIO][:777])
    with FileServer(dict(blobs)) as srv:
        fetch([archive(blobs, AUDIO)], srv.base_url, tmp_path, **FAST)
    [req] = srv.requests
    assert (req.range, req.sent) == ("bytes=777-", len(blobs[AUDIO]) - 777)
    assert (tmp_path / AUDIO).read_bytes() == blobs[AUDIO]


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    (tmp_path / f"{AUDIO}.part").write_bytes(b"x" * 500)  # garbage prefix: must be truncated, not appended to
    with FileServer(dict(blobs), {AUDIO: Faults(ignore_range=True)}) as srv:
        fetch([archive(blobs, AUDIO)], srv.base_url, tmp_path, **FAST)
    assert [(r.range, r.status) for r in srv.requests] == [("bytes=500-", 200)]
    assert (tmp_path / AUDIO).read_bytes() == blobs[AUDIO]


def test_corrupt_once_is_refetched(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    with FileServer(dict(blobs), {META: Faults(corrupt_times=1)}) as srv:
        fetch([archive(blobs, META)], srv.base_url, tmp_path, **FAST)
    assert [r.range for r in srv.requests] == [None, None]  # the whole file again, not a resume
    assert (tmp_path / META).read_bytes() == blobs[META]


def test_corrupt_always_fails_clearly(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    bad = bytearray(blobs[META])
    bad[len(bad) // 2] ^= 0xFF
    with FileServer(dict(blobs), {META: Faults(corrupt_times=99)}) as srv:
        with pytest.raises(DownloadError) as err:
            fetch([archive(blobs, META)], srv.base_url, tmp_path, **FAST)
    msg = str(err.value)
    assert META in msg and md5(blobs[META]) in msg and md5(bytes(bad)) in msg
    assert len(srv.requests) == 2  # one retry of the whole file, no more
    assert list(tmp_path.glob(f"{META}*")) == []  # no final file, no part file, no sidecar


def test_503_twice_then_success(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    with FileServer(dict(blobs), {META: Faults(fail_503=2)}) as srv:
        fetch([archive(blobs, META)], srv.base_url, tmp_path, **FAST)
    assert [r.status for r in srv.requests] == [503, 503, 200]
    assert (tmp_path / META).read_bytes() == blobs[META]


def test_503_forever_gives_up_after_retries(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    with FileServer(dict(blobs), {META: Faults(fail_503=99)}) as srv:
        with pytest.raises(DownloadError, match=r"after 3 tries.*503") as err:
            fetch([archive(blobs, META)], srv.base_url, tmp_path, retries=3, **FAST)
    assert f"{srv.base_url}/{META}" in str(err.value)
    assert len(srv.requests) == 3


def test_404_fails_at_once_naming_url(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    with FileServer({}) as srv:
        with pytest.raises(DownloadError, match="404") as err:
            fetch([archive(blobs, META)], srv.base_url, tmp_path, **FAST)
    assert f"{srv.base_url}/{META}?download=1" in str(err.value)
    assert len(srv.requests) == 1


def test_connection_refused_is_retried_then_fails(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    with FileServer({}) as srv:
        url = srv.base_url
    with pytest.raises(DownloadError, match=r"after 2 tries"):
        fetch([archive(blobs, META)], url, tmp_path, retries=2, **FAST)


def test_not_enough_disk_refuses_up_front(tmp_path: Path, blobs: dict[str, bytes], monkeypatch) -> None:
    """The archives still to download are one asc.core.disk.Need, checked and worded as every planned write."""
    monkeypatch.setattr(disk, "free_bytes", lambda path: 12345)
    with FileServer(dict(blobs)) as srv:
        with pytest.raises(DiskSpaceError, match=r"need .* free 12.1 KiB") as err:
            fetch([archive(blobs, META), archive(blobs, AUDIO)], srv.base_url, tmp_path, **FAST)
    missing = human_bytes(len(blobs[META]) + len(blobs[AUDIO]))
    assert f"{missing} for 2 archive(s) still to download in {tmp_path}" in str(err.value)
    assert f"+ {human_bytes(disk.MARGIN)} margin" in str(err.value)
    assert "dataset.download_dir" in str(err.value) and "\n" not in str(err.value)
    assert srv.requests == []


def test_rerun_is_a_noop_without_rehashing(tmp_path: Path, blobs: dict[str, bytes], monkeypatch) -> None:
    archives = [archive(blobs, META), archive(blobs, AUDIO)]
    with FileServer(dict(blobs)) as srv:
        fetch(archives, srv.base_url, tmp_path, **FAST)
        assert (tmp_path / f"{META}.md5").is_file()

        def no_hashing(h, path):
            raise AssertionError(f"{path} was re-hashed")

        monkeypatch.setattr(checksums, "md5_update", no_hashing)
        assert fetch(archives, srv.base_url, tmp_path, **FAST) == [tmp_path / META, tmp_path / AUDIO]
    assert len(srv.requests) == 2  # only the first run's


def test_missing_sidecar_hashes_once(tmp_path: Path, blobs: dict[str, bytes], monkeypatch) -> None:
    (tmp_path / META).write_bytes(blobs[META])  # e.g. copied in by hand
    calls = []
    real = checksums.md5_update
    monkeypatch.setattr(checksums, "md5_update", lambda h, p: calls.append(p) or real(h, p))
    for _ in range(2):
        fetch([archive(blobs, META)], "http://127.0.0.1:9/unused", tmp_path, **FAST)
    assert calls == [tmp_path / META]


def test_bad_existing_file_is_replaced(tmp_path: Path, blobs: dict[str, bytes]) -> None:
    (tmp_path / META).write_bytes(b"short")  # wrong size
    (tmp_path / AUDIO).write_bytes(bytes(len(blobs[AUDIO])))  # right size, wrong content
    with FileServer(dict(blobs)) as srv:
        fetch([archive(blobs, META), archive(blobs, AUDIO)], srv.base_url, tmp_path, **FAST)
    assert len(srv.requests) == 2
    assert (tmp_path / META).read_bytes() == blobs[META]
    assert (tmp_path / AUDIO).read_bytes() == blobs[AUDIO]


def test_archives_from_config_reads_the_dataset_config() -> None:
    cfg = OmegaConf.load(CONF)
    archives = archives_from_config(cfg.files, cfg.archives)
    assert len(archives) == 18
    assert sum(a.bytes for a in archives) == 27_364_817_167
    assert archives[0] == Archive(f"{PREFIX}meta.zip", 214159, "6eae9db553ce48e4ea246e34e50a3cf5")
    assert [a.name for a in archives_from_config(cfg.files, ["meta", "audio.1"])] == [META, AUDIO]


def test_archives_from_config_unknown_name() -> None:
    cfg = OmegaConf.load(CONF)
    with pytest.raises(ValueError, match=r"audio\.17.*valid names: .*meta.*audio\.16"):
        archives_from_config(cfg.files, ["meta", "audio.17"])


def test_archive_rejects_path_like_names() -> None:
    with pytest.raises(ValueError, match="plain file name"):
        Archive("../x.zip", 1, "0" * 32)
