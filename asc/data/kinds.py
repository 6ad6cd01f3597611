"""What kind of dataset a ``dataset`` config is, as a type: the pipeline asks the kind, never the config's name.

A kind answers everything that differs between datasets before and while they are built:

- ``generated``: built from its config into the data store (the demo, the stand-in), not found in a folder;
- ``has_audio``: WAV files to decode (false for the features-only stand-in, whose features are rendered);
- ``pieces(d)``: clips per recording (1 for 10-s sets, 10 for the 1-s TAU 2022 layout and its variants);
- ``fold_table(d)``: the folds, where they can be known before anything is built (None: not there yet);
- ``train_clips(d)``: fold1_train's clips before the index exists (for estimates);
- ``check_options(d)``: the kind's own config values (one-line :class:`~asc.core.errors.ConfigError`);
- ``build(d, work, runtime)``: make a generated set in ``work``.

A config names its kind with ``kind:`` (conf/dataset/*.yaml); a config of the user's own without it is a TAU
folder (downloaded or brought). ``kind`` is a declaration, not data: it enters no key. Adding a dataset kind is
one class here (or in its own module, registered in :data:`KINDS`) and ``kind: <name>`` in its config.

This module imports no torch, librosa or numpy at import time: planning asks it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from asc.core.values import fail, integer, listed, number

if TYPE_CHECKING:
    import pandas as pd

WAV_BYTES_PER_SECOND = 44100 * 3  # the demo writes TAU's format: 44.1 kHz, 24-bit mono


class DatasetKind:
    """The TAU layout in a folder (meta.csv, audio/, evaluation_setup/): downloaded into ``dataset.root`` by asc
    (``download: true``) or brought by the user; the base of the other kinds."""

    name: ClassVar[str] = "tau"
    generated: ClassVar[bool] = False
    has_audio: ClassVar[bool] = True

    def pieces(self, d: Mapping[str, Any]) -> int:
        return int(d.get("pieces", 1))

    def fold_table(self, d: Mapping[str, Any]) -> pd.DataFrame | None:
        from asc.data import tau

        root = Path(d["root"])
        if not all((root / name).is_file() for name in tau.REQUIRED):
            return None
        return tau.read_folds(root, expected_counts=d.get("expected_counts") or {})

    def train_clips(self, d: Mapping[str, Any]) -> int:
        """TAU's ``expected_counts.train``; a generated packed set's ``train_clips`` (the tagging demo)."""
        return int((d.get("expected_counts") or {}).get("train", d.get("train_clips", 0)))

    def check_options(self, d: Mapping[str, Any]) -> None:
        for key in ("root", "download_dir"):
            if key in d and (not isinstance(d[key], str) or not d[key].strip()):
                fail(f"dataset.{key}", d[key], "a folder (a non-empty path)")
        if "archives" in d and not isinstance(d["archives"], list):
            fail(
                "dataset.archives",
                d["archives"],
                "a list of archive names, e.g. dataset.archives=[meta,audio.1]",
            )

    def store_bytes(self, d: Mapping[str, Any]) -> int:
        """Bytes a generated set takes in the data store (a folder's download plan is asc/data/prepare.py's)."""
        return 0

    def build(self, d: Mapping[str, Any], work: Path, runtime: Mapping[str, Any]) -> dict[str, Any]:
        raise TypeError(f"dataset kind {self.name} lives in dataset.root: it is prepared, not built")


class DemoKind(DatasetKind):
    """The synthetic demo in the TAU layout, generated from its config (asc/data/demo.py); 10-s clips, or 1-s
    pieces of 10-s recordings (``recording_seconds``)."""

    name: ClassVar[str] = "demo"
    generated: ClassVar[bool] = True

    def pieces(self, d: Mapping[str, Any]) -> int:
        from asc.data.demo import pieces

        return pieces(d)

    def fold_table(self, d: Mapping[str, Any]) -> pd.DataFrame:
        from asc.data.demo import fold_table

        return fold_table(d)

    def train_clips(self, d: Mapping[str, Any]) -> int:
        from asc.data.demo import pieces, plan_clips

        return pieces(d) * sum(1 for c in plan_clips(d) if c.split == "train")

    def check_options(self, d: Mapping[str, Any]) -> None:
        """The generator's settings, which otherwise fail deep inside the generation."""
        for key in ("train_locations", "evaluate_locations", "segments_per_location"):
            integer(f"dataset.{key}", d[key], 1)
        cities = listed("dataset.cities", d["cities"])
        if not cities or len(set(cities)) != len(cities):
            fail("dataset.cities", cities, "a non-empty list of distinct city names")
        devices = listed("dataset.evaluate_devices", d["evaluate_devices"])
        train = listed("dataset.train_devices", d["train_devices"])
        if "a" not in train or not set(train) <= set(devices):
            fail("dataset.train_devices", train, f"a list holding the reference device a, within {devices}")
        number("dataset.atypical", d.get("atypical", 0.0), 0.0, 1.0, low_open=False, high_open=True)
        number("dataset.difficulty", d.get("difficulty", 1.0), 0.0, 100.0, low_open=False)
        self.pieces(d)  # recording_seconds a whole multiple of clip_seconds (the 1-s variant)

    def store_bytes(self, d: Mapping[str, Any]) -> int:
        from asc.data.demo import plan_clips

        return int(len(plan_clips(d)) * float(d["clip_seconds"]) * WAV_BYTES_PER_SECOND)

    def build(self, d: Mapping[str, Any], work: Path, runtime: Mapping[str, Any]) -> dict[str, Any]:
        from asc.data import demo

        return demo.generate({**d, "workers": runtime["workers"]}, work, runtime["progress"])


class StandinKind(DatasetKind):
    """TAU's metadata layout at TAU's size without audio (asc/data/standin.py): features are rendered, not
    decoded; for timing the paper's grid anywhere."""

    name: ClassVar[str] = "standin"
    generated: ClassVar[bool] = True
    has_audio: ClassVar[bool] = False

    def fold_table(self, d: Mapping[str, Any]) -> pd.DataFrame:
        from asc.data.standin import expected_counts, plan_standin

        counts = expected_counts(float(d["scale"]))  # recordings; the 1-s variant lists `pieces` clips each
        return plan_standin(counts["train"], counts["evaluate"], int(d["seed"]), self.pieces(d))

    def train_clips(self, d: Mapping[str, Any]) -> int:
        from asc.data.standin import expected_counts

        return expected_counts(float(d["scale"]), self.pieces(d))["train"]

    def check_options(self, d: Mapping[str, Any]) -> None:
        from asc.data.standin import MIN_SCALE  # below it a scene and city lack a second location to hold out

        number("dataset.scale", d["scale"], math.ceil(MIN_SCALE * 1e4) / 1e4, 10.0, low_open=False)

    def build(self, d: Mapping[str, Any], work: Path, runtime: Mapping[str, Any]) -> dict[str, Any]:
        from asc.data import standin

        return standin.write_standin(
            work, seed=int(d["seed"]), scale=float(d["scale"]), pieces=self.pieces(d)
        )


KINDS: dict[str, Callable[[], DatasetKind]] = {
    kind.name: kind for kind in (DatasetKind, DemoKind, StandinKind)
}


def kind_of(d: Mapping[str, Any]) -> DatasetKind:
    """The kind a ``dataset`` config declares (``kind:``; none: a TAU folder). Raises ConfigError for an unknown
    one, naming the known kinds."""
    name = d.get("kind") or DatasetKind.name
    if name not in KINDS:
        fail("dataset.kind", name, "one of " + ", ".join(KINDS))
    return KINDS[name]()
