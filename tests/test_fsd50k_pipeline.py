"""FSD50K past the dataset stage (asc/data/fsd50k.py) on a small fake folder: the index from the official CSVs
(vocabulary.csv, dev.csv's train/val split, eval.csv), clips cut or brought up to ``dataset.clip_seconds``
(``dataset.fit``: pad | repeat, keyed), the official validation split, and each bad input refused in one line at
planning. No network: nothing reaches the local server. The download of the split audio archives:
tests/test_split_zip.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from config_fixtures import NO_FIGURES, composed
from http_fixtures import FileServer

from asc.core.errors import ConfigError, InputError
from asc.data import fsd50k
from asc.data.h5_clips import targets
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.stages import index
from asc.pipeline.validate import validate

RATE = 44100
# clip name -> (labels, dev split or "eval", seconds)
CLIPS = {
    **{str(10 + i): (f"c{i % 3},c{3 + i % 2}", "train", 0.1 + 0.02 * i) for i in range(12)},
    **{str(30 + i): (f"c{i % 3}", "val", 0.25) for i in range(3)},
    **{str(50 + i): (f"c{i % 3},c4", "eval", 0.15) for i in range(4)},
}


def fsd_folder(root: Path) -> Path:
    """A fake FSD50K: the 200-class vocabulary, dev.csv/eval.csv of :data:`CLIPS` and short tone WAVs."""
    truth = root / fsd50k.GROUND_TRUTH
    truth.mkdir(parents=True)
    (truth / "vocabulary.csv").write_text("".join(f"{k},c{k},/m/{k}\n" for k in range(200)))
    dev = ["fname,labels,mids,split"] + [
        f'{n},"{labs}",x,{s}' for n, (labs, s, _) in CLIPS.items() if s != "eval"
    ]
    ev = ["fname,labels,mids"] + [f'{n},"{labs}",x' for n, (labs, s, _) in CLIPS.items() if s == "eval"]
    (truth / "dev.csv").write_text("\n".join(dev) + "\n")
    (truth / "eval.csv").write_text("\n".join(ev) + "\n")
    for n, (labs, split, seconds) in CLIPS.items():
        folder = root / fsd50k.AUDIO["eval" if split == "eval" else "dev"]
        folder.mkdir(exist_ok=True)
        t = np.arange(int(seconds * RATE)) / RATE
        freq = 300 + 500 * int(labs.split(",")[0][1:])
        sf.write(folder / f"{n}.wav", 0.3 * np.sin(2 * np.pi * freq * t), RATE, subtype="PCM_16")
    return root


@pytest.fixture
def small_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsd50k, "EXPECTED", {"train": 12, "val": 3, "eval": 4})


def _cfg(tmp_path: Path, *extra: str) -> dict:
    return composed(
        "dataset=fsd50k",
        f"dataset.root={tmp_path / 'fsd'}",
        "dataset.clip_seconds=0.2",
        "model=panns_cnn10",
        "model.n_classes=200",
        "model.widths=[4,4,8,8]",
        "features.frames=21",
        "features.stats_frames=21",
        *(f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")),
        *extra,
    )


def test_index_from_the_official_csvs(tmp_path: Path, small_set: None) -> None:
    table = fsd50k.read_index(fsd_folder(tmp_path / "fsd"))
    assert table["split"].value_counts().to_dict() == {"train": 12, "val": 3, "evaluate": 4}
    first = table.iloc[0]
    assert first["filename"] == "FSD50K.dev_audio/10.wav" and first["labels"] == "0;3"
    assert table.loc[table["split"] == "evaluate", "filename"].iloc[0] == "FSD50K.eval_audio/50.wav"
    y = targets(table, 200)
    assert y.shape == (19, 200) and y[0].nonzero()[0].tolist() == [0, 3]


def test_fit_pads_or_repeats_and_cuts() -> None:
    y = np.arange(1, 4, dtype=np.float32)
    assert fsd50k.fit(y, 7, "pad").tolist() == [1, 2, 3, 0, 0, 0, 0]
    assert fsd50k.fit(y, 7, "repeat").tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert fsd50k.fit(y, 2, "repeat").tolist() == [1, 2] == fsd50k.fit(y, 2, "pad").tolist()


def test_waveforms_resampled_and_fitted(tmp_path: Path, small_set: None) -> None:
    root = fsd_folder(tmp_path / "fsd")
    rows = fsd50k.read_index(root).iloc[[0, 12]]  # 0.1 s and 0.25 s
    sf.write(root / rows["filename"].iloc[0], np.full((RATE // 10, 2), 0.25), RATE)  # stereo: averaged
    got = list(fsd50k.waveforms(root, rows, target_rate=32000, clip_seconds=0.2, how="repeat"))
    assert [y.shape for y in got] == [(6400,), (6400,)] and all(y.dtype == np.float32 for y in got)
    assert np.allclose(got[0][200:3000], 0.25, atol=0.02) and np.allclose(got[0][3400:6000], 0.25, atol=0.02)
    padded = next(fsd50k.waveforms(root, rows, target_rate=32000, clip_seconds=0.2, how="pad"))
    assert not padded[3300:].any()
    (root / rows["filename"].iloc[1]).write_bytes(b"RIFF" + b"\0" * 40)
    with pytest.raises(InputError, match=r"30.wav cannot be read as audio"):
        list(fsd50k.waveforms(root, rows, target_rate=32000, clip_seconds=0.2, how="pad"))


def test_a_brought_folder_planned_with_its_official_split(tmp_path: Path, small_set: None) -> None:
    fsd_folder(tmp_path / "fsd")
    cfg = _cfg(tmp_path, "stage=train")
    validate(cfg)
    steps = make_plan(cfg)
    assert [s.stage for s in steps][:4] == ["dataset", "index", "features", "train"]
    check_plan(steps, cfg, upto="train")
    assert index.preview(cfg)["split"].value_counts().to_dict() == {"train": 12, "val": 3, "evaluate": 4}
    key = steps[0].key
    assert make_plan(_cfg(tmp_path, "dataset.fit=repeat"))[0].key != key  # the audio read differs
    assert make_plan(_cfg(tmp_path, "dataset.clip_seconds=0.3"))[0].key != key
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        (("dataset.fit=loop",), ConfigError, r"dataset.fit='loop'; choose one of pad, repeat"),
        (("dataset.validation.method=random",), ConfigError, r"dataset.validation.method='random'"),
        (("model.n_classes=10",), ConfigError, r"model.n_classes=10, but fsd50k has 200 classes"),
        ((), InputError, r"FSD50K.eval_audio lacks 1 clip\(s\) that eval.csv lists, e.g. 53.wav"),
    ],
)
def test_each_bad_input_refused_in_one_line_at_planning(
    tmp_path: Path, small_set: None, extra: tuple[str, ...], error: type, message: str
) -> None:
    root = fsd_folder(tmp_path / "fsd")
    if not extra:
        (root / fsd50k.AUDIO["eval"] / "53.wav").unlink()
    with FileServer({}) as server:
        cfg = _cfg(tmp_path, "stage=train", f"dataset.base_url={server.base_url}", *extra)
        with pytest.raises(error, match=message) as err:
            validate(cfg)
            check_plan(make_plan(cfg), cfg, upto="train")
        assert server.requests == []
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_tiny_fsd50k_end_to_end_scored_by_map(tmp_path: Path, small_set: None) -> None:
    from asc.app.cli import run

    fsd_folder(tmp_path / "fsd")
    run(
        _cfg(
            tmp_path,
            "train.epochs=1",
            "train.select_after=0",
            "runs=[{criteria:[l1],layer_sets:null,fractions:[]}]",
            "quantise.enabled=false",
            "runtime.latency.measure=false",
            *NO_FIGURES,
        )
    )
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert set(rows["stage"]) == {"baseline", "prune"} and rows["mAP"].between(0, 1).all()
    assert "mAP" in (tmp_path / "results" / "summary.md").read_text()
