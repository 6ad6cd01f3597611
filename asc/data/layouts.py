"""The datasets beyond TAU 2020/2022 and the generated sets, each declared once: where its index lives, how a
complete copy is recognised, which task it poses (asc.data.tasks), whether it can be downloaded, and what keys it
(its key function: asc/data/folder_keys.py).

A dataset config names its layout (``dataset.layout``: esc50 | tut2018 | fsd50k | audioset_hdf5); the dataset
stage asks the :class:`Layout` (download or not, check at planning, key), never the dataset's name. Torch-free.
Every layout reads its index, hold-out and waveforms, so every stage runs on it (a test holds each one to that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError, InputError
from asc.data.folder_keys import h5_key, listing_key


def _read_esc50(root: Path) -> Any:
    from asc.data.esc50 import read_index

    return read_index(root)


def _esc50_index(root: Path, d: Mapping[str, Any]) -> Any:
    from asc.data.esc50 import pipeline_index

    return pipeline_index(root, d["fold"])


def _read_tut2018(root: Path) -> Any:
    from asc.data.tut2018 import read_split

    return read_split(root)


def _read_fsd50k(root: Path) -> Any:
    from asc.data.fsd50k import read_split

    return read_split(root)


def _check_fsd50k(d: Mapping[str, Any]) -> None:
    from asc.data.fsd50k import check_config

    check_config(d)


def _fsd50k_index(root: Path, d: Mapping[str, Any]) -> Any:
    from asc.data.fsd50k import read_index

    return read_index(root)


def _fsd50k_waveforms(root: Path, rows: Any, d: Mapping[str, Any], rate: int) -> Any:
    from asc.data.fsd50k import waveforms

    return waveforms(root, rows, target_rate=rate, clip_seconds=float(d["clip_seconds"]), how=str(d["fit"]))


def _official(table: Any, v: Mapping[str, Any]) -> Any:
    """The set's own validation split, as its index marks it (FSD50K's dev.csv ``val``)."""
    return table


def _check_esc50(d: Mapping[str, Any]) -> None:
    from asc.data.esc50 import check_fold

    check_fold(d.get("fold"))


def _check_tut2018(d: Mapping[str, Any]) -> None:
    from asc.data.tut2018 import CHANNEL_MIXES, LISTS, check_first_clip

    if d.get("channels") not in CHANNEL_MIXES:
        raise ConfigError(f"dataset.channels={d.get('channels')!r}; choose one of {', '.join(CHANNEL_MIXES)}")
    root = Path(str(d.get("root")))
    if not d.get("download", True) and (root / LISTS["evaluate"]).is_file():  # a brought folder: its audio
        check_first_clip(root, int(d["sample_rate"]))


def _tut2018_index(root: Path, d: Mapping[str, Any]) -> Any:
    from asc.data.tut2018 import read_index

    return read_index(root)


def _tut2018_waveforms(root: Path, rows: Any, d: Mapping[str, Any], rate: int) -> Any:
    from asc.data.tut2018 import load_clip

    for name in rows["filename"]:
        yield load_clip(
            Path(root) / name, channels=str(d["channels"]), rate=rate, clip_seconds=float(d["clip_seconds"])
        )


def _grouped_validation(table: Any, v: Mapping[str, Any]) -> Any:
    from asc.data.tau import split_validation

    return split_validation(table, method=v["method"], amount=float(v["amount"]), seed=int(v["seed"]))


def _check_audioset(d: Mapping[str, Any]) -> None:
    from asc.data.audioset_hdf5 import check_folder

    check_folder(d)


def _h5_index(root: Path, d: Mapping[str, Any]) -> Any:
    from asc.data.h5_clips import read_index

    return read_index(root, dict(d["files"]))


def _h5_waveforms(root: Path, rows: Any, d: Mapping[str, Any], rate: int) -> Any:
    from asc.data.h5_clips import waveforms

    return waveforms(
        root,
        rows,
        sample_rate=int(d["sample_rate"]),
        target_rate=rate,
        clip_seconds=float(d["clip_seconds"]),
    )


def _h5_validation(table: Any, v: Mapping[str, Any]) -> Any:
    from asc.data.h5_clips import split_validation

    return split_validation(table, amount=float(v["amount"]), seed=int(v["seed"]))


def _check_h5_files(d: Mapping[str, Any]) -> None:
    from asc.data.h5_clips import check_files

    check_files(dict(d["files"]))


def _check_audioset_folder(d: Mapping[str, Any]) -> None:
    _check_h5_files(d)
    _check_audioset(d)


def _generate_tagging_demo(d: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    from asc.data.tagging_demo import generate

    return generate(d, folder)


@dataclass(frozen=True)
class Layout:
    """One published dataset layout. ``downloadable``: fetched from its archives (else the user brings it);
    ``read(root)``: its index, checked (InputError naming the file otherwise); ``check(d)``: its own config values and (for a folder
    the user brings) the folder, at planning; ``metadata``: the files whose bytes key a brought folder."""

    name: str
    downloadable: bool
    read: Callable[[Path], Any] | None
    check: Callable[[Mapping[str, Any]], None]
    metadata: tuple[str, ...]
    key: Callable[[tuple[str, ...], Mapping[str, Any]], dict[str, Any]]  # (metadata, dataset) -> key
    generate: Callable[[Mapping[str, Any], Path], dict[str, Any]] | None = None  # a generated set's writer
    # past the dataset stage: the index (root, dataset config) -> rows (asc/data/h5_clips.py's columns), the
    # hold-out (index, dataset.validation) -> rows with ``val``, the waveforms (root, rows, dataset, rate) -> clips
    index: Callable[[Path, Mapping[str, Any]], Any] | None = None
    validation: Callable[[Any, Mapping[str, Any]], Any] | None = None
    waveforms: Callable[[Path, Any, Mapping[str, Any], int], Any] | None = None
    validation_methods: tuple[str, ...] = ()
    # config values that change the audio as the pipeline reads it (TUT 2018's channel mix): in the dataset's key
    keyed: tuple[str, ...] = ()

    def complete(self, root: Path) -> bool:
        """A finished copy whose index passes its checks is at ``root``."""
        if self.read is None:
            return False
        try:
            self.read(Path(root))
        except InputError:
            return False
        return True

    @property
    def generated(self) -> bool:
        """Built from its config into the store (like the scene demo), keyed by that config."""
        return self.generate is not None

    def generated_bytes(self, d: Mapping[str, Any]) -> int:
        """What a generated set writes: its int16 waveforms (the HDF5 overhead is small)."""
        clips = int(d["train_clips"]) + int(d["eval_clips"])
        return clips * int(round(float(d["clip_seconds"]) * int(d["sample_rate"]))) * 2


_H5_PIPELINE: dict[str, Any] = {
    "index": _h5_index,
    "validation": _h5_validation,
    "waveforms": _h5_waveforms,
    "validation_methods": ("random",),
}

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "esc50",
            True,
            _read_esc50,
            _check_esc50,
            ("meta/esc50.csv",),
            listing_key,
            index=_esc50_index,
            validation=_h5_validation,  # a random draw of the training folds' clips
            waveforms=None,  # one mono WAV per clip: decoded as TAU's
            validation_methods=("random",),
            keyed=("fold",),  # the test fold decides the features' folds
        ),
        Layout(
            "tut2018",
            True,
            _read_tut2018,
            _check_tut2018,
            ("meta.csv", "evaluation_setup/fold1_train.txt", "evaluation_setup/fold1_evaluate.txt"),
            listing_key,
            index=_tut2018_index,
            validation=_grouped_validation,  # TAU's location-grouped hold-out: the names say the location
            waveforms=_tut2018_waveforms,
            validation_methods=("grouped",),
            keyed=("channels",),
        ),
        Layout(
            "fsd50k",
            True,
            _read_fsd50k,
            _check_fsd50k,
            (
                "FSD50K.ground_truth/vocabulary.csv",
                "FSD50K.ground_truth/dev.csv",
                "FSD50K.ground_truth/eval.csv",
            ),
            listing_key,
            index=_fsd50k_index,
            validation=_official,  # dev.csv's own val split
            waveforms=_fsd50k_waveforms,  # 0.3-30 s clips fitted to dataset.clip_seconds
            validation_methods=("official",),
            keyed=("fit", "clip_seconds"),  # how each clip is cut or brought up to the length read
        ),
        Layout("audioset_hdf5", False, None, _check_audioset_folder, (), h5_key, None, **_H5_PIPELINE),
        Layout(
            "tagging_demo",
            False,
            lambda root: False,
            _check_h5_files,
            (),
            h5_key,
            _generate_tagging_demo,
            **_H5_PIPELINE,
        ),
    )
}


def layout_of(d: Mapping[str, Any]) -> Layout | None:
    """The dataset config's :class:`Layout` (``dataset.layout``), None for TAU and the generated sets."""
    name = d.get("layout")
    if name is None:
        return None
    if name not in LAYOUTS:
        raise ConfigError(f"dataset.layout={name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def folder_key(d: Mapping[str, Any]) -> dict[str, Any]:
    """What a brought folder holds (the artifact key of the dataset step): its layout's ``key``."""
    layout, root = layout_of(d), Path(d["root"])
    if layout is None or not root.is_dir():
        raise InputError(f"dataset.root={root} is not a folder; point it at the dataset")
    return layout.key(layout.metadata, d) | {k: d.get(k) for k in layout.keyed}
