"""Split zip archives (asc/data/split_zip.py) and FSD50K's download through them (asc/data/archive_sets.py): a real
Info-ZIP ``zip -s 64k`` archive (tests/data/fsd50k_split, made by its make_fixture.sh) read in place across its
parts, CRC-checked; every part fetched from a local mirror (cut: resumed; corrupt: fetched again or refused
naming the file); a missing part, a part without its archive or unverified sizes refused in one line before
anything is fetched; the disk plan counting the parts and the extracted audio. No network."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from config_fixtures import composed
from http_fixtures import Faults, FileServer, make_zip

from asc.core.errors import ConfigError, InputError
from asc.data import archive_sets, fsd50k
from asc.data.archive import extract, is_extracted
from asc.data.http_download import DownloadError
from asc.data.split_zip import SPAN, open_split, part_paths
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.validate import validate

FIXTURE = Path(__file__).parent / "data" / "fsd50k_split"
DEV = {"1.wav", "2.wav", "3.wav"}  # FSD50K.dev_audio.z01, .z02 + .zip (plain end record)
EVAL = {"4.wav", "5.wav"}  # FSD50K.eval_audio.z01 + .zip (zip64 end records and offsets: zip -fz)
PARTS = {"dev_audio": 2, "eval_audio": 1}


def ground_truth_zip() -> bytes:
    vocab = "".join(f"{k},Label_{k},/m/{k:03d}\n" for k in range(fsd50k.CLASSES))
    dev = 'fname,labels,mids,split\n1,"Label_0,Label_5","/m/000,/m/005",train\n2,Label_7,/m/007,train\n3,Label_1,/m/001,val\n'
    return make_zip(
        {
            "FSD50K.ground_truth/vocabulary.csv": vocab.encode(),
            "FSD50K.ground_truth/dev.csv": dev.encode(),
            "FSD50K.ground_truth/eval.csv": b"fname,labels,mids\n4,Label_199,/m/199\n5,Label_3,/m/003\n",
        }
    )


def mirror() -> dict[str, bytes]:
    """The files of the fake record: the ground truth and the split audio archives, by file name."""
    files = {"FSD50K.ground_truth.zip": ground_truth_zip()}
    for key, n in PARTS.items():
        for path in part_paths(FIXTURE / f"FSD50K.{key}.zip", n):
            files[path.name] = path.read_bytes()
    return files


def fsd_config(tmp: Path, base_url: str, served: dict[str, bytes], **kw: Any) -> dict[str, Any]:
    """dataset=fsd50k's download values for the fake record (sizes and MD5s of ``served``)."""
    files: dict[str, Any] = {"prefix": "FSD50K.", "suffix": ".zip"}
    for name, data in served.items():
        stem, ext = name.removeprefix("FSD50K.").rsplit(".", 1)
        key = stem if ext == "zip" else f"{stem}_{ext}"
        files[key] = {"bytes": len(data), "md5": hashlib.md5(data).hexdigest()}
    for key, n in PARTS.items():
        files[key]["parts"] = n
    archives = ["ground_truth", "dev_audio_z01", "dev_audio_z02", "dev_audio", "eval_audio_z01", "eval_audio"]
    return {
        "name": "fsd50k",
        "layout": "fsd50k",
        "root": str(tmp / "FSD50K"),
        "download": True,
        "base_url": base_url,
        "url_template": "{base_url}/{name}",
        "download_dir": str(tmp / "downloads"),
        "archives": archives,
        "strip_top": False,
        "files": files,
        "retries": 3,
        **kw,
    }


def small_fsd(root: Path) -> bool:
    try:
        fsd50k.read_split(root, expect_full=False)
    except InputError:
        return False
    return True


def test_a_split_archive_is_read_in_place_across_its_parts() -> None:
    assert (FIXTURE / "FSD50K.dev_audio.z01").read_bytes()[:4] == SPAN
    for key, names in (("dev_audio", DEV), ("eval_audio", EVAL)):
        with open_split(FIXTURE / f"FSD50K.{key}.zip", PARTS[key]) as zf:
            files = [i for i in zf.infolist() if not i.is_dir()]
            assert {Path(i.filename).name for i in files} == names
            assert zf.testzip() is None  # every member read to its end: CRC-32 and size match
            assert all(zf.read(i)[:4] == b"RIFF" for i in files)
    with open_split(FIXTURE / "FSD50K.dev_audio.zip", 2) as zf:  # a member that runs on from .z01 into .z02
        assert any(i.header_offset < 65536 < i.header_offset + i.compress_size for i in zf.infolist())


def test_wrong_parts_are_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"split archive of 3 file\(s\), but 2 were given"):
        open_split(FIXTURE / "FSD50K.dev_audio.zip", 1)  # as if a part of another set stood in for two
    shutil.copy(FIXTURE / "FSD50K.dev_audio.zip", tmp_path)
    shutil.copy(FIXTURE / "FSD50K.dev_audio.z01", tmp_path)
    with pytest.raises(InputError, match=r"FSD50K.dev_audio.z02 is not beside it") as err:
        open_split(tmp_path / "FSD50K.dev_audio.zip", 2)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        open_split(tmp_path / "FSD50K.eval_audio.zip", 1)


def test_a_corrupt_member_fails_its_crc_and_leaves_no_file(tmp_path: Path) -> None:
    for path in part_paths(FIXTURE / "FSD50K.dev_audio.zip", 2):
        shutil.copy(path, tmp_path)
    part = tmp_path / "FSD50K.dev_audio.z02"
    data = bytearray(part.read_bytes())
    data[30000] ^= 0xFF  # inside a deflated WAV, past the part's first header
    part.write_bytes(bytes(data))
    target = tmp_path / "root"
    with pytest.raises(zipfile.BadZipFile):
        extract(
            tmp_path / "FSD50K.dev_audio.zip", target, strip_top=False, open_zip=lambda p: open_split(p, 2)
        )
    assert not is_extracted("FSD50K.dev_audio.zip", target)
    # 2.wav came first and is whole; 1.wav (the damaged bytes) has no file, not even a temporary one
    assert [p.name for p in (target / "FSD50K.dev_audio").iterdir()] == ["2.wav"]


@pytest.mark.parametrize(
    ("name", "fault", "extra"),
    [
        (None, None, 0),
        ("FSD50K.dev_audio.z02", Faults(cut_after=20000, cut_times=1), 1),  # resumed with a Range request
        ("FSD50K.eval_audio.z01", Faults(corrupt_times=1), 1),  # wrong MD5: fetched again, whole
    ],
)
def test_fsd50k_downloads_every_part_and_extracts_its_folders(
    tmp_path: Path, name: str | None, fault: Faults | None, extra: int
) -> None:
    served = mirror()
    with FileServer(served, faults={name: fault} if name else {}) as server:
        d = fsd_config(tmp_path, server.base_url, served)
        root = archive_sets.prepare(d, small_fsd)
        assert len(server.requests) == len(served) + extra
        assert any(s.range for s in server.requests) == (name == "FSD50K.dev_audio.z02")  # a cut resumes
    split = fsd50k.read_split(root, expect_full=False)
    assert [len(split[s]) for s in ("train", "val", "eval")] == [2, 1, 2]
    assert {p.name for p in (root / fsd50k.AUDIO["dev"]).iterdir()} == DEV
    assert all(is_extracted(f"FSD50K.{k}.zip", root) for k in ("ground_truth", "dev_audio", "eval_audio"))
    with FileServer({}) as server:  # complete: nothing fetched again
        archive_sets.prepare({**d, "base_url": server.base_url}, small_fsd)
        assert server.requests == []


def test_downloaded_parts_are_not_fetched_again_and_go_with_delete_archives(tmp_path: Path) -> None:
    served = mirror()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for n in ("FSD50K.dev_audio.z01", "FSD50K.dev_audio.z02"):
        (downloads / n).write_bytes(served[n])
    with FileServer(served) as server:
        archive_sets.prepare(fsd_config(tmp_path, server.base_url, served, delete_archives=True), small_fsd)
        fetched = {s.path.rsplit("/", 1)[-1] for s in server.requests}
    assert fetched == set(served) - {"FSD50K.dev_audio.z01", "FSD50K.dev_audio.z02"}
    assert [p.name for p in downloads.iterdir() if not p.name.startswith(".")] == []


def test_a_part_that_stays_corrupt_is_refused_naming_it(tmp_path: Path) -> None:
    served = mirror()
    with FileServer(served, faults={"FSD50K.dev_audio.z01": Faults(corrupt_times=99)}) as server:
        with pytest.raises(DownloadError, match=r"checksum mismatch for FSD50K.dev_audio.z01"):
            archive_sets.prepare(fsd_config(tmp_path, server.base_url, served), small_fsd)
    assert not (tmp_path / "FSD50K" / fsd50k.AUDIO["dev"]).exists()


@pytest.mark.parametrize(
    ("archives", "message"),
    [
        (
            ["ground_truth", "dev_audio_z01", "dev_audio"],
            r"selects dev_audio without its part\(s\) dev_audio_z02",
        ),
        (
            ["ground_truth", "eval_audio_z01"],
            r"selects eval_audio_z01, part\(s\) of eval_audio, without eval_audio",
        ),
        (None, r"give no size/MD5 for dev_audio_z02"),
    ],
)
def test_a_missing_or_stray_part_is_refused_before_anything_is_fetched(
    tmp_path: Path, archives: list[str] | None, message: str
) -> None:
    served = mirror()
    with FileServer(served) as server:
        d = fsd_config(tmp_path, server.base_url, served)
        if archives is None:
            d["files"]["dev_audio_z02"]["md5"] = None
        else:
            d["archives"] = archives
        with pytest.raises(ConfigError, match=message) as err:
            archive_sets.prepare(d, small_fsd)
        assert server.requests == [] and not (tmp_path / "downloads").exists()
    assert "\n" not in str(err.value)


def test_the_config_declares_every_part_and_the_disk_plan_counts_them(tmp_path: Path) -> None:
    cfg = composed(f"paths.data={tmp_path}/data", "dataset=fsd50k", "dataset.download=true", "stage=dataset")
    validate(cfg)
    d = cfg["dataset"]
    archive_sets.check_download(d)  # every part declared with its size and MD5, and selected
    sizes = [d["files"][k]["bytes"] for k in d["archives"]]
    assert len(sizes) == 9 and sum(sizes) == 24_672_026_627  # ground truth + 24.7 GB of audio
    downloads, unpack = archive_sets.download_needs(d)
    assert downloads.bytes == sum(sizes) and unpack.bytes >= sum(sizes)  # nothing joined: no transient copy
    assert downloads.transient == 0 and unpack.path == Path(d["root"])
    refused = composed(f"paths.data={tmp_path}/data", "dataset=fsd50k", "dataset.download=true",
                       "dataset.archives=[ground_truth,dev_audio]", "stage=dataset")  # fmt: skip
    with pytest.raises(ConfigError, match=r"without its part\(s\) dev_audio_z01, dev_audio_z02"):
        check_plan(make_plan(refused), refused, upto="dataset")
