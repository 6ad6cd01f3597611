"""dataset=tau2022mobile: the 1-s naming, the downloader against a local mock of the 1-s archives, the index,
the DCASE 2024 split files (reading, checks, official_split on 1-s and 10-s pools), and the 1-s demo/stand-in."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from http_fixtures import Faults, FileServer, make_zip, md5

from asc.core.errors import InputError
from asc.data import demo, standin, tau2022
from asc.data.prepare import prepare_tau

REPO = Path(__file__).resolve().parents[1]
TOP = "TAU-urban-acoustic-scenes-2022-mobile-development"
PREFIX = f"{TOP}."
RECORDINGS = [  # (10-s name, scene, fold)
    ("audio/airport-lisbon-1000-40000-a.wav", "airport", "train"),
    ("audio/airport-lisbon-1000-40000-s1.wav", "airport", "train"),
    ("audio/bus-paris-10-400-a.wav", "bus", "train"),
    ("audio/park-vienna-7-70-b.wav", "park", "evaluate"),
]


def test_piece_names_round_trip():
    rec = "audio/street_traffic-barcelona-203-6129-s3.wav"
    names = [tau2022.piece_name(rec, k) for k in range(10)]
    assert names[0] == "audio/street_traffic-barcelona-203-6129-0-s3.wav"
    for k, n in enumerate(names):
        f = tau2022.parse_piece(n)
        assert (f["recording"], f["piece"], f["location"], f["device"]) == (rec, k, "barcelona-203", "s3")
    assert tau2022.recording_of(names[4]) == rec and tau2022.recording_of(rec) == rec
    with pytest.raises(ValueError, match="not a TAU 2022 name"):
        tau2022.parse_piece(rec)
    with pytest.raises(ValueError, match="outside"):
        tau2022.piece_name(rec, 10)


def _pcm(seed: int) -> bytes:
    buf = io.BytesIO()
    sf.write(
        buf, np.random.default_rng(seed).uniform(-0.5, 0.5, 44100), 44100, subtype="PCM_24", format="WAV"
    )
    return buf.getvalue()


def _mock_archives() -> dict[str, bytes]:
    """meta.zip and two audio zips of four recordings cut into 1-s pieces, in the 2022 layout."""
    pieces = [(tau2022.piece_name(r, k), s, f) for r, s, f in RECORDINGS for k in range(10)]

    def loc(n):
        return tau2022.parse_piece(n)["location"]

    meta = "filename\tscene_label\tidentifier\tsource_label\n" + "".join(
        f"{n}\t{s}\t{loc(n)}\t{tau2022.parse_piece(n)['device']}\n" for n, s, _ in pieces
    )

    def fold(which):
        return "filename\tscene_label\n" + "".join(f"{n}\t{s}\n" for n, s, f in pieces if f == which)

    test = "filename\n" + "".join(f"{n}\n" for n, _, f in pieces if f == "evaluate")
    files = {"meta.csv": meta, "evaluation_setup/fold1_train.csv": fold("train")}
    files |= {
        "evaluation_setup/fold1_evaluate.csv": fold("evaluate"),
        "evaluation_setup/fold1_test.csv": test,
    }
    wavs = {f"{TOP}/{n}": _pcm(i) for i, (n, _, _) in enumerate(pieces)}
    names = sorted(wavs)
    return {
        f"{PREFIX}meta.zip": make_zip({f"{TOP}/{k}": v.encode() for k, v in files.items()}, compress=True),
        f"{PREFIX}audio.1.zip": make_zip({k: wavs[k] for k in names[:20]}),
        f"{PREFIX}audio.16.zip": make_zip({k: wavs[k] for k in names[20:]}),
    }


def _dataset_cfg(tmp: Path, blobs: dict[str, bytes], base_url: str) -> dict:
    cfg = yaml.safe_load((REPO / "conf/dataset/tau2022mobile.yaml").read_text())
    for name, data in blobs.items():  # the real config with the mock zips' sizes and MD5s
        cfg["files"][name.removeprefix(PREFIX).removesuffix(".zip")] = {"bytes": len(data), "md5": md5(data)}
    return {
        **cfg,
        "root": str(tmp / TOP),
        "download_dir": str(tmp / "downloads"),
        "base_url": base_url,
        "archives": ["meta", "audio.1", "audio.16"],
    }


def test_downloader_fetches_checks_resumes_and_indexes_the_1s_set(tmp_path):
    blobs = _mock_archives()
    audio = f"{PREFIX}audio.1.zip"
    with FileServer(dict(blobs), {audio: Faults(cut_after=len(blobs[audio]) // 3, cut_times=1)}) as srv:
        cfg = _dataset_cfg(tmp_path, blobs, srv.base_url)
        root = prepare_tau(cfg, progress=False)
        assert any(r.range for r in srv.requests if r.path.endswith(audio))  # the cut download resumed
        n = len(srv.requests)
        assert prepare_tau(cfg, progress=False) == root and len(srv.requests) == n  # re-run: no request
    table = tau2022.read_folds_1s(root)
    assert len(table) == 40 and set(table["split"]) == {"train", "evaluate"}
    assert table.groupby("recording").size().eq(10).all()
    assert set(table["location"]) == {"lisbon-1000", "paris-10", "vienna-7"}


def test_downloader_refuses_a_corrupt_1s_archive(tmp_path):
    blobs = _mock_archives()
    meta = f"{PREFIX}meta.zip"
    with FileServer(dict(blobs), {meta: Faults(corrupt_times=99)}) as srv:
        cfg = {**_dataset_cfg(tmp_path, blobs, srv.base_url), "retries": 1}
        with pytest.raises(Exception, match="MD5|md5|checksum"):
            prepare_tau(cfg, progress=False)
    assert not (tmp_path / TOP / "meta.csv").exists()


def test_config_matches_the_documented_record():
    cfg = yaml.safe_load((REPO / "conf/dataset/tau2022mobile.yaml").read_text())
    files = {k: v for k, v in cfg["files"].items() if isinstance(v, dict)}
    assert len(files) == 18 and sum(v["bytes"] for v in files.values()) == 27_503_592_469
    assert cfg["expected_counts"] == {"train": 139620, "evaluate": 29680}
    assert set(cfg["archives"]) == set(files)


def _split_text(names: list[str]) -> str:
    return "filename\tscene_label\n" + "".join(f"{n}\t{n.split('/')[1].split('-')[0]}\n" for n in names)


def _pool(n_recordings: int = 40) -> pd.DataFrame:
    recs = [
        f"audio/{s}-lisbon-{i}-{100 + i}-a.wav" for i, s in enumerate(["bus", "park"] * (n_recordings // 2))
    ]
    return pd.DataFrame({"filename": [tau2022.piece_name(r, k) for r in recs for k in range(10)]})


def test_read_split_checks_content(tmp_path):
    pool = _pool()
    names = list(pool["filename"][:30])
    (tmp_path / "split5.csv").write_text(_split_text(names))
    with pytest.raises(InputError, match="30 clips, the published split5.csv has 6980"):
        tau2022.read_split(tmp_path / "split5.csv")
    assert tau2022.read_split(tmp_path / "split5.csv", published=False) == names
    (tmp_path / "split10.csv").write_text(_split_text(names[:25]))
    with pytest.raises(InputError, match="has 5 of its 10 pieces"):
        tau2022.read_split(tmp_path / "split10.csv", published=False)
    (tmp_path / "split25.csv").write_text("filename,scene_label\n")
    with pytest.raises(InputError, match="split25.csv, line 1"):
        tau2022.read_split(tmp_path / "split25.csv", published=False)
    with pytest.raises(InputError, match="is missing; fetch it"):
        tau2022.read_split(tmp_path / "split50.csv")
    with pytest.raises(InputError, match="not within split10"):
        tau2022.check_nested({"split5": names, "split10": names[:10]})


def test_official_split_selects_whole_recordings_from_1s_and_10s_pools(tmp_path):
    pool = _pool()
    listed = list(pool["filename"][20:60])  # recordings 2..5
    (tmp_path / "split5.csv").write_text(_split_text(listed))
    pos = tau2022.official_split("split5", pool, tmp_path, published=False)
    assert pos.tolist() == list(range(20, 60))
    tenth = pd.DataFrame({"filename": pool["filename"].map(tau2022.recording_of).drop_duplicates()})
    assert tau2022.official_split("split5", tenth, tmp_path, published=False).tolist() == [2, 3, 4, 5]
    held_out = pool.drop(index=range(20, 30)).reset_index(drop=True)  # recording 2 held out for validation
    with pytest.raises(InputError, match="1 of its 4 recordings are not in the pool"):
        tau2022.official_split("split5", held_out, tmp_path, published=False)
    assert len(tau2022.official_split("split5", held_out, tmp_path, published=False, strict=False)) == 30
    with pytest.raises(InputError, match="unknown"):
        tau2022.official_split("split7", pool, tmp_path)


def test_fetch_splits_from_a_mirror(tmp_path):
    names = list(_pool()["filename"])
    body = _split_text(names).encode()
    with FileServer({"split5.csv": body, "test.csv": b"filename\tscene_label\n"}) as srv:
        with pytest.raises(InputError, match="6980"):  # a mirror's file of another size is refused
            tau2022.fetch_splits(tmp_path, ["split5"], base_url=srv.base_url)
        assert not (tmp_path / "split5.csv").exists()
        with pytest.raises(InputError, match="could not download"):
            tau2022.fetch_splits(tmp_path, ["split10"], base_url=srv.base_url)
    published = _split_text(list(_pool(698)["filename"]))  # split5's 6,980 clips of 698 recordings
    with FileServer({"split5.csv": published.encode()}) as srv:
        (path,) = tau2022.fetch_splits(tmp_path, ["split5"], base_url=srv.base_url)
        assert len(tau2022.read_split(path)) == 6980 and len(srv.requests) == 1
        tau2022.fetch_splits(tmp_path, ["split5"], base_url=srv.base_url)
        assert len(srv.requests) == 1  # present and valid: not fetched again


def test_write_splits_are_nested_stratified_and_whole(tmp_path):
    table = standin.plan_standin(600, 100, seed=3, pieces=10)
    train = table[table["split"] == "train"]
    out = tmp_path
    sizes = tau2022.write_splits(train, out, seed=0)
    lists = {n: tau2022.read_split(out / f"{n}.csv", published=False) for n in tau2022.SPLIT_NAMES}
    tau2022.check_nested(lists)
    assert sizes["split100"] == len(train) and [sizes[n] for n in tau2022.SPLIT_NAMES] == sorted(
        sizes.values()
    )
    assert abs(sizes["split25"] / sizes["split100"] - 0.25) < 0.03
    five = train[train["filename"].isin(lists["split5"])]
    assert set(five["scene"]) == set(train["scene"])  # every scene even at 5 %


def test_standin_1s_lists_pieces_and_keeps_10s_bytes(tmp_path):
    ten = standin.plan_standin(300, 60, seed=1)
    one = standin.plan_standin(300, 60, seed=1, pieces=10)
    assert len(one) == 10 * len(ten)
    assert one["filename"].map(tau2022.recording_of).drop_duplicates().tolist() == ten["filename"].tolist()
    counts = standin.write_standin(tmp_path, seed=0, scale=0.05, pieces=10)
    assert counts == standin.expected_counts(0.05, pieces=10) == {"train": 6980, "evaluate": 1480}
    assert (tmp_path / "split_setup" / "split50.csv").is_file()


def test_demo_1s_pieces_are_the_10s_recording_cut_at_k_seconds(tmp_path):
    cfg = {**yaml.safe_load((REPO / "conf/dataset/demo.yaml").read_text()), "sample_rate": 8000}
    clip = demo.plan_clips(cfg)[0]
    demo._render_and_write(({**cfg, "clip_seconds": 10}, clip, str(tmp_path / "ten")))
    demo._render_and_write(({**cfg, "clip_seconds": 1, "recording_seconds": 10}, clip, str(tmp_path / "one")))
    whole, _ = sf.read(tmp_path / "ten" / clip.filename, dtype="int32")
    pieces = [
        sf.read(tmp_path / "one" / tau2022.piece_name(clip.filename, k), dtype="int32")[0] for k in range(10)
    ]
    assert all(len(p) == 8000 for p in pieces)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    with pytest.raises(ValueError, match="recording_seconds=2.5"):
        demo.pieces({**cfg, "clip_seconds": 1, "recording_seconds": 2.5})
