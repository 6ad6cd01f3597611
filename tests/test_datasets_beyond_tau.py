"""ESC-50, TUT 2018, FSD50K and AudioSet-as-HDF5: download from a local mirror (cut, corrupt, resumed), index and
integrity checks on small fake copies, and each bad input refused in one line at planning. No network."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from config_fixtures import composed
from http_fixtures import Faults, FileServer, make_zip

from asc.core.errors import ConfigError, InputError
from asc.data import archive_sets, esc50, fsd50k, tut2018
from asc.data.audioset_hdf5 import check_file
from asc.data.layouts import folder_key, layout_of
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.validate import validate

WAV = b"RIFF" + b"\0" * 60  # the index checks presence; the features stage reads audio


def esc50_members(classes: int = 3, per_fold: int = 1) -> dict[str, bytes]:
    rows, members = ["filename,fold,target,category,esc10,src_file,take"], {}
    for fold in range(1, 6):
        for target in range(classes):
            for k in range(per_fold):
                name = f"{fold}-{target}{k}-A-{target}.wav"
                rows.append(f"{name},{fold},{target},class{target},False,{target}{k},A")
                members[f"ESC-50-master/audio/{name}"] = WAV
    members["ESC-50-master/meta/esc50.csv"] = ("\n".join(rows) + "\n").encode()
    return members


def esc50_config(tmp: Path, server: FileServer, blob: bytes, **kw: Any) -> dict[str, Any]:
    return {
        "name": "esc50",
        "layout": "esc50",
        "fold": 1,
        "root": str(tmp / "ESC-50"),
        "download": True,
        "base_url": server.base_url,
        "url_template": "{base_url}/{name}",
        "download_dir": str(tmp / "downloads"),
        "archives": ["master"],
        "files": {
            "prefix": "",
            "suffix": ".zip",
            "master": {"bytes": len(blob), "md5": hashlib.md5(blob).hexdigest()},
        },
        "retries": 3,
        **kw,
    }


def small_esc50(root: Path) -> bool:
    try:
        esc50.read_index(root, expect_full=False)
    except InputError:
        return False
    return True


@pytest.mark.parametrize("fault", [None, Faults(cut_after=300, cut_times=1), Faults(corrupt_times=1)])
def test_esc50_downloads_from_a_mirror_checked_and_resumed(tmp_path: Path, fault: Faults | None) -> None:
    blob = make_zip(esc50_members())
    with FileServer({"master.zip": blob}, faults={"master.zip": fault} if fault else {}) as server:
        d = esc50_config(tmp_path, server, blob)
        root = archive_sets.prepare(d, small_esc50)
        requests = len(server.requests)
    index = esc50.read_index(root, expect_full=False)
    assert len(index) == 15 and set(index["fold"]) == {1, 2, 3, 4, 5}
    split = esc50.fold_split(index, 2)
    assert set(split["test"]["fold"]) == {2} and 2 not in set(split["train"]["fold"])
    assert requests == (1 if fault is None else 2)  # a cut resumes, a corrupt file is fetched again
    with FileServer({}) as server:  # complete: nothing is fetched again
        archive_sets.prepare({**d, "base_url": server.base_url}, small_esc50)
        assert server.requests == []


def test_an_unverified_archive_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with FileServer({}) as server:
        d = esc50_config(tmp_path, server, b"x")
        d["files"]["master"]["md5"] = None
        with pytest.raises(ConfigError, match=r"no size/MD5 for master.*dataset.download=false"):
            archive_sets.prepare(d, small_esc50)
        assert server.requests == [] and not (tmp_path / "downloads").exists()


def _write(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        path = root / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda root: (root / "meta/esc50.csv").unlink(), r"meta/esc50.csv is missing"),
        (lambda root: (root / "audio/1-00-A-0.wav").unlink(), r"lacks 1 clip\(s\) that meta/esc50.csv lists"),
        (lambda root: _replace(root / "meta/esc50.csv", ",1,0,", ",7,0,"), r"fold 7 is not 1-5"),
        (lambda root: _replace(root / "meta/esc50.csv", ",0,class0", ",0,other"), r"target 0 has several"),
        (lambda root: None, r"lists 15 clips .*ESC-50 has 2000"),
    ],
)
def test_esc50_index_refuses_each_bad_input_in_one_line(tmp_path: Path, edit, message: str) -> None:
    root = _write(tmp_path / "esc", esc50_members())
    edit(root)
    with pytest.raises(InputError, match=message) as err:
        esc50.read_index(root)
    assert "\n" not in str(err.value)


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def test_every_layout_reads_its_index_so_every_stage_runs_on_it() -> None:
    """No layout stops at stage=dataset (the refusal of a job past it, check_stage, was removed as dead)."""
    from asc.data.layouts import LAYOUTS

    assert all(layout.index is not None and layout.validation is not None for layout in LAYOUTS.values())


def test_esc50_fold_is_a_config_value() -> None:
    with pytest.raises(ConfigError, match="dataset.fold=6"):
        esc50.check_fold(6)


def tut_folder(root: Path) -> Path:
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "audio").mkdir()
    for part, names in (("train", ["airport-a.wav", "bus-b.wav"]), ("evaluate", ["park-c.wav"])):
        lines = [f"audio/{n}\t{n.split('-')[0]}" for n in names]
        (root / f"evaluation_setup/fold1_{part}.txt").write_text("\n".join(lines) + "\n")
        for n in names:
            (root / "audio" / n).write_bytes(WAV)
    return root


def test_tut2018_split_channels_and_checks(tmp_path: Path) -> None:
    root = tut_folder(tmp_path / "tut")
    split = tut2018.read_split(root, expect_full=False)
    assert list(split["evaluate"]["scene_label"]) == ["park"]
    with pytest.raises(InputError, match=r"fold1_train.txt lists 2 clips; fold 1 train has 6122"):
        tut2018.read_split(root)
    stereo = np.array([[1.0, 3.0], [2.0, 4.0]])
    assert tut2018.mix(stereo, "mean").tolist() == [2.0, 3.0]
    assert tut2018.mix(stereo, "right").tolist() == [3.0, 4.0]
    with pytest.raises(ConfigError, match="dataset.channels='both'"):
        tut2018.mix(stereo, "both")
    (root / "evaluation_setup/fold1_evaluate.txt").write_text("audio/park-c.wav\tbeach\n")
    with pytest.raises(InputError, match="scene 'beach' is not one of TUT 2018's ten"):
        tut2018.read_split(root, expect_full=False)


def fsd_folder(root: Path) -> Path:
    gt = root / fsd50k.GROUND_TRUTH
    gt.mkdir(parents=True)
    vocab = [f"{k},Label_{k},/m/{k:03d}" for k in range(fsd50k.CLASSES)]
    (gt / "vocabulary.csv").write_text("\n".join(vocab) + "\n")
    (gt / "dev.csv").write_text(
        'fname,labels,mids,split\n1,"Label_0,Label_5","/m/000,/m/005",train\n2,Label_7,/m/007,val\n'
    )
    (gt / "eval.csv").write_text("fname,labels,mids\n3,Label_199,/m/199\n")
    for folder, name in ((fsd50k.AUDIO["dev"], "1"), (fsd50k.AUDIO["dev"], "2"), (fsd50k.AUDIO["eval"], "3")):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{name}.wav").write_bytes(WAV)
    return root


def test_fsd50k_official_split_and_multi_hot_targets(tmp_path: Path) -> None:
    root = fsd_folder(tmp_path / "fsd")
    split = fsd50k.read_split(root, expect_full=False)
    assert [len(split[s]) for s in ("train", "val", "eval")] == [1, 1, 1]
    y = fsd50k.targets(split["train"], fsd50k.read_vocabulary(root))
    assert y.shape == (1, 200) and y[0].nonzero()[0].tolist() == [0, 5]
    with pytest.raises(InputError, match="train has 1 clips .* 36796"):
        fsd50k.read_split(root)
    (root / fsd50k.AUDIO["eval"] / "3.wav").unlink()
    with pytest.raises(InputError, match=r"lacks 1 clip\(s\) that eval.csv lists, e.g. 3.wav"):
        fsd50k.read_split(root, expect_full=False)


def write_h5(path: Path, n: int = 3, samples: int = 320000, classes: int = 527, **override: Any) -> Path:
    import h5py

    data = {
        "audio_name": np.array([f"Y{i}.wav".encode() for i in range(n)], dtype="S20"),
        "waveform": np.zeros((n, samples), dtype=np.int16),
        "target": np.zeros((n, classes), dtype=bool),
    }
    data.update(override)
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            if v is not None:
                f.create_dataset(k, data=v)
    return path


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"samples": 160000}, r"160000 samples per clip \(16000 Hz for 10 s\); dataset.sample_rate=32000"),
        ({"target": None}, r"lacks the dataset\(s\) target"),
        (
            {"target": np.zeros((3, 527), dtype=np.float32)},
            r"target is float32 \(3, 527\); .* bool \(N, 527\)",
        ),
        ({"classes": 200}, r"target is bool \(3, 200\)"),
        ({"waveform": np.zeros((3, 320000), dtype=np.float32)}, r"waveform is float32"),
        ({"target": np.zeros((2, 527), dtype=bool)}, r"hold 3, 3 and 2 clips"),
    ],
)
def test_audioset_hdf5_refused_in_one_line_naming_what_differs(
    tmp_path: Path, kw: dict, message: str
) -> None:
    path = write_h5(tmp_path / "bad.h5", **kw)
    with pytest.raises(InputError, match=message):
        check_file(path)


def test_audioset_folder_is_checked_and_keyed_at_planning(tmp_path: Path) -> None:
    folder = tmp_path / "audioset"
    folder.mkdir()
    write_h5(folder / "balanced_train.h5")
    write_h5(folder / "eval.h5", n=2)
    assert check_file(folder / "eval.h5") == 2
    overrides = (f"paths.data={tmp_path}/data", "dataset=audioset", f"dataset.root={folder}", "stage=dataset")
    cfg = composed(*overrides)
    validate(cfg)
    steps = make_plan(cfg)  # the whole chain: its index, features and training read the packed files
    assert [s.stage for s in steps][:4] == ["dataset", "index", "features", "train"]
    check_plan(steps, cfg, upto="dataset")
    key = steps[0].key
    write_h5(folder / "eval.h5", n=2, target=np.eye(2, 527, dtype=bool))  # other labels: another dataset
    assert make_plan(composed(*overrides))[0].key != key
    write_h5(folder / "eval.h5", samples=441000)
    with pytest.raises(InputError, match=r"eval.h5: waveform has 441000 samples"):
        make_plan(composed(*overrides))
    validate(composed(*overrides[:-1], "stage=train"))
    validate(composed(f"paths.data={tmp_path}/data", "dataset=fsd50k", "stage=train"))  # its index: read


def test_layouts_and_brought_folders_are_keyed_by_content(tmp_path: Path) -> None:
    root = _write(tmp_path / "esc", esc50_members())
    d = {"name": "esc50", "layout": "esc50", "root": str(root)}
    key = folder_key(d)
    (root / "audio/1-00-A-0.wav").write_bytes(WAV + b"x")
    assert folder_key(d) != key
    with pytest.raises(ConfigError, match="dataset.layout='esc'"):
        layout_of({"layout": "esc"})


def test_generated_tagging_demo_and_16k_scene_demo_plan(tmp_path: Path) -> None:
    base = (f"paths.data={tmp_path}/data", "stage=dataset")
    cfg = composed(*base, "dataset=tagging_demo")
    validate(cfg)
    step = make_plan(cfg)[0]
    check_plan([step], cfg, upto="dataset")
    assert step.config["classes"] == 24 and "root" not in step.args
    assert make_plan(composed(*base, "dataset=tagging_demo", "dataset.seed=1"))[0].key != step.key
    scenes = composed(f"paths.data={tmp_path}/data", "dataset=demo16k", "features=logmel40x500_16k")
    validate(scenes)
    steps = make_plan(scenes)
    demo = make_plan(composed(f"paths.data={tmp_path}/data"))
    assert steps[0].config["sample_rate"] == 16000 and steps[0].key != demo[0].key


def test_a_brought_folder_is_checked_at_planning(tmp_path: Path) -> None:
    root = _write(tmp_path / "esc", esc50_members())
    overrides = (
        f"paths.data={tmp_path}/data",
        "dataset=esc50",
        "dataset.download=false",
        f"dataset.root={root}",
    )
    cfg = composed(*overrides, "stage=dataset")
    validate(cfg)
    with pytest.raises(InputError, match=r"esc50.csv lists 15 clips"):  # the fake has 15 of ESC-50's 2,000
        check_plan(make_plan(cfg), cfg, upto="dataset")
