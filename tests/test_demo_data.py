"""The synthetic demo set: TAU 2020 Mobile layout and formats, byte-identical output for a seed."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import yaml

from asc.data.demo import generate, plan_clips
from asc.data.tau import SCENES

CONF = Path(__file__).resolve().parents[1] / "conf"
# The tiny set with 1 s clips: the same plan as the 10 s one, a tenth of the audio to synthesise.
SHORT = {
    **yaml.safe_load((CONF / "dataset" / "demo.yaml").read_text()),
    "cities": ["barcelona", "lisbon"],
    "train_locations": 3,
    "evaluate_locations": 1,
    "segments_per_location": 1,
    "clip_seconds": 1,
}
NAME = re.compile(r"^audio/([a-z_]+)-([a-z]+)-(\d+)-(\d+)-([a-z0-9]+)\.wav$")


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------- layout


def test_layout_is_tau(tiny_demo: Path, tiny_demo_cfg: dict[str, Any]) -> None:
    assert (tiny_demo / "meta.csv").is_file()
    setup = tiny_demo / "evaluation_setup"
    assert sorted(p.name for p in setup.iterdir()) == [
        "fold1_evaluate.csv",
        "fold1_test.csv",
        "fold1_train.csv",
    ]
    header, meta = read_tsv(tiny_demo / "meta.csv")
    assert header == ["filename", "scene_label", "identifier", "source_label"]
    assert all(len(r) == 4 for r in meta)
    train_header, train = read_tsv(setup / "fold1_train.csv")
    eval_header, evaluate = read_tsv(setup / "fold1_evaluate.csv")
    test_header, test = read_tsv(setup / "fold1_test.csv")
    assert train_header == eval_header == ["filename", "scene_label"]
    assert test_header == ["filename"]
    assert [r[0] for r in test] == [r[0] for r in evaluate]  # the same clips, without labels

    # 10 scenes x 1 city x 3 locations x 1 segment x (a + one phone) and x 1 location x 5 devices.
    assert len(tiny_demo_cfg["cities"]) == 1
    assert len(train) == 10 * 1 * 3 * 2
    assert len(evaluate) == 10 * 1 * 1 * 5
    assert sorted(r[0] for r in meta) == sorted(r[0] for r in train + evaluate)

    audio = sorted(p.name for p in (tiny_demo / "audio").iterdir())
    assert audio == sorted(Path(r[0]).name for r in meta), "audio/ must hold exactly the listed clips"
    devices_by_split: dict[str, set[str]] = {"train": set(), "evaluate": set()}
    for split, rows in (("train", train), ("evaluate", evaluate)):
        for filename, scene in rows:
            m = NAME.match(filename)
            assert m, filename
            assert m.group(1) == scene
            assert m.group(2) in tiny_demo_cfg["cities"]
            devices_by_split[split].add(m.group(5))
    for filename, scene, identifier, device in meta:
        m = NAME.match(filename)
        assert (m.group(1), f"{m.group(2)}-{m.group(3)}", m.group(5)) == (scene, identifier, device)

    assert sorted({r[1] for r in meta}) == sorted(SCENES) and len(SCENES) == 10
    assert len(devices_by_split["train"] | devices_by_split["evaluate"]) >= 3
    assert "s4" in devices_by_split["evaluate"] and "s4" not in devices_by_split["train"]
    assert "a" in devices_by_split["train"]


def test_wav_format(tiny_demo: Path) -> None:
    files = sorted((tiny_demo / "audio").glob("*.wav"))
    assert files
    for path in files:
        info = sf.info(str(path))
        assert (info.format, info.subtype) == ("WAV", "PCM_24"), path
        assert (info.samplerate, info.channels, info.frames) == (44_100, 1, 441_000), path


def test_generate_rejects_inconsistent_devices(tmp_path: Path, tiny_demo_cfg: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="'a'"):
        generate({**tiny_demo_cfg, "train_devices": ["b", "c"]}, tmp_path)
    with pytest.raises(ValueError, match="s9"):
        generate({**tiny_demo_cfg, "train_devices": ["a", "s9"]}, tmp_path)


def test_plan_is_deterministic_and_locations_unique(tiny_demo_cfg: dict[str, Any]) -> None:
    plan = plan_clips(tiny_demo_cfg)
    assert plan == plan_clips(dict(tiny_demo_cfg))
    assert len({c.filename for c in plan}) == len(plan)
    # A location belongs to one scene and one split.
    owner: dict[int, tuple[str, str, str]] = {}
    for c in plan:
        assert owner.setdefault(c.location, (c.scene, c.city, c.split)) == (c.scene, c.city, c.split)


# ------------------------------------------------------------------------------------------------ determinism


@pytest.fixture(scope="module")
def short_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The short tiny set: seed 0 with 1 and with 2 workers, and seed 1."""
    out = {}
    for name, overrides in {
        "w1": {"workers": 1},
        "w2": {"workers": 2},
        "seed1": {"workers": 2, "seed": 1},
    }.items():
        out[name] = tmp_path_factory.mktemp(name)
        counts = generate({**SHORT, **overrides}, out[name], progress=False)
        assert counts == {"clips": 220, "train": 120, "evaluate": 100}
    return out


def test_byte_identical_whatever_the_workers(short_sets: dict[str, Path]) -> None:
    one, two = tree_bytes(short_sets["w1"]), tree_bytes(short_sets["w2"])
    assert len(one) == 220 + 4
    assert sorted(one) == sorted(two)
    different = [name for name in one if one[name] != two[name]]
    assert not different, f"{len(different)} files differ, e.g. {different[:3]}"


def test_another_seed_gives_other_audio(short_sets: dict[str, Path]) -> None:
    zero, one = tree_bytes(short_sets["w2"]), tree_bytes(short_sets["seed1"])
    assert sorted(zero) == sorted(one)
    for name in zero:
        if name.endswith(".csv"):
            assert zero[name] == one[name], name  # the plan does not depend on the seed
        else:
            assert zero[name] != one[name], name


def test_generation_resumes_and_stays_identical(short_sets: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(short_sets["w2"], copy)
    removed = sorted((copy / "audio").glob("*.wav"))[::50]
    for path in removed:
        path.unlink()
    kept = sorted((copy / "audio").glob("*.wav"))[0]
    kept_mtime = kept.stat().st_mtime_ns
    generate({**SHORT, "workers": 1}, copy, progress=False)
    assert kept.stat().st_mtime_ns == kept_mtime  # present clips are not rendered again
    assert tree_bytes(copy) == tree_bytes(short_sets["w2"])
