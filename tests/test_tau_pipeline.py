"""dataset=tau2020mobile end to end against a local mirror: download → extract → index → features → training.

The mirror serves zips in the real layout with the real archive names, built from a tiny demo set (which is
generated in the TAU layout), with MD5s computed here and passed as config overrides.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from http_fixtures import PREFIX, TOP, FileServer, make_zip, md5

from asc.data.prepare import is_complete, prepare_tau

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source(tiny_demo, tmp_path_factory) -> Path:
    """A tiny, complete dataset folder in the TAU layout: a copy of conftest's tiny demo (a test takes a clip
    away for a moment; the shared set stays as it is)."""
    import shutil

    return Path(shutil.copytree(tiny_demo, tmp_path_factory.mktemp("tau_src") / "TAU"))


@pytest.fixture(scope="module")
def mirror(source) -> dict[str, bytes]:
    """meta, audio.1 and audio.2 zips of a tiny TAU-layout set (audio split in two halves)."""
    root = source
    wavs = sorted((root / "audio").iterdir())
    meta = {
        f"{TOP}/{p}": (root / p).read_bytes()
        for p in ["meta.csv", *(f"evaluation_setup/fold1_{s}.csv" for s in ("train", "evaluate", "test"))]
    }
    half = len(wavs) // 2
    audio = [{f"{TOP}/audio/{w.name}": w.read_bytes() for w in part} for part in (wavs[:half], wavs[half:])]
    return {
        f"{PREFIX}meta.zip": make_zip(meta),
        f"{PREFIX}audio.1.zip": make_zip(audio[0]),
        f"{PREFIX}audio.2.zip": make_zip(audio[1]),
    }


def run_asc(tmp: Path, server: FileServer, files: dict[str, bytes], archives: list[str], *extra: str):
    """The CLI with a dataset config for this mirror (the real one with the test zips' sizes and MD5s), found
    through hydra.searchpath the way a user would add a config of their own."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "conf/dataset/tau2020mobile.yaml")
    for name, data in files.items():
        cfg.files[name.removeprefix(PREFIX).removesuffix(".zip")] = {"bytes": len(data), "md5": md5(data)}
    (tmp / "conf" / "dataset").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, tmp / "conf" / "dataset" / "mirror.yaml")
    cmd = [
        sys.executable,
        "-m",
        "asc",
        f"hydra.searchpath=[file://{tmp / 'conf'}]",
        "dataset=mirror",
        "train=baseline",  # a dataset config of our own names no recipe: the paper's, shortened below
        "finetune=default",
        f"dataset.base_url={server.base_url}",
        f"dataset.archives=[{','.join(archives)}]",
        f"paths.data={tmp / 'data'}",
        f"paths.store={tmp / 'store'}",
        f"paths.results={tmp / 'results'}",
        f"hydra.run.dir={tmp / 'run'}",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_download_features_training_end_to_end(tmp_path, mirror):
    with FileServer(dict(mirror)) as server:
        proc = run_asc(
            tmp_path,
            server,
            mirror,
            ["meta", "audio.1", "audio.2"],
            "stage=train",
            "train=demo",
            "train.epochs=1",
            "train.select_after=0",
            "model.widths=[4,4,8]",  # the download-to-training path, not the network: a narrow one trains fast
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(server.requests) == 3  # one GET per archive
        root = tmp_path / "data" / TOP
        assert (root / "meta.csv").is_file() and len(list((root / "audio").glob("*.wav"))) == 110
        (train_dir,) = [p for p in (tmp_path / "store" / "train").iterdir() if p.is_dir()]
        scores = json.loads((train_dir / "metrics.json").read_text())
        assert "s4" in scores["per_device"]  # the unseen device is evaluated
        assert scores["n"] == 50
        # Re-running is a no-op: no request, nothing rebuilt.
        again = run_asc(
            tmp_path,
            server,
            mirror,
            ["meta", "audio.1", "audio.2"],
            "stage=train",
            "train=demo",
            "train.epochs=1",
            "train.select_after=0",
            "model.widths=[4,4,8]",  # the download-to-training path, not the network: a narrow one trains fast
        )
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == 3
        assert "built in" not in again.stdout + again.stderr
        assert "up to date" in again.stdout + again.stderr


@pytest.mark.slow
def test_partial_archive_subset_indexes_what_is_there(tmp_path, mirror):
    with FileServer(dict(mirror)) as server:
        proc = run_asc(tmp_path, server, mirror, ["meta", "audio.1"], "stage=index")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "have no audio" in log and "they are excluded" in log
    (index_dir,) = [p for p in (tmp_path / "store" / "index").iterdir() if p.is_dir()]
    index = (index_dir / "index.csv").read_text().splitlines()
    assert 1 < len(index) - 1 < 110  # only the clips of audio.1


def test_existing_complete_copy_is_used_without_download(source, tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf/dataset/tau2020mobile.yaml"))
    cfg.update(
        root=str(source), download_dir=str(tmp_path / "zips"), base_url="http://127.0.0.1:9/unreachable"
    )
    assert prepare_tau(cfg) == source  # port 9 is closed: any download attempt would fail
    assert not (tmp_path / "zips").exists()
    clip = next((source / "audio").iterdir())
    clip.rename(tmp_path / clip.name)
    try:
        assert not is_complete(source)  # one clip short: a download would be needed
    finally:
        (tmp_path / clip.name).rename(clip)
