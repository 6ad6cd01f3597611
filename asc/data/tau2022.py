"""TAU Urban Acoustic Scenes 2022 Mobile: 1-s naming, its index, and the DCASE 2024 data-efficiency splits.

The 2022 set is TAU 2020 Mobile cut into ten 1-s pieces per 10-s clip (docs/tau2022_mobile.md §2): the piece
``audio/<scene>-<city>-<location>-<segment>-<k>-<device>.wav`` (k = 0…9) belongs to the *recording*
``audio/<scene>-<city>-<location>-<segment>-<device>.wav``, the TAU 2020 name. Its metadata files have TAU 2020's
layout and columns, so :func:`asc.data.tau.read_folds` reads them; :func:`read_folds_1s` adds the recording and
takes the location from the name where meta.csv's identifier is not ``city-location``.

The DCASE 2024 splits ``split5 … split100.csv`` list 1-s pieces of whole recordings of fold1_train (§4): nested,
near uniform over scenes, TAU's device shares. No checksum of the published files could be verified, so a split
file is checked by content (:func:`read_split`): its header, its row count, whole recordings only, and — given the
pool — every name in fold1_train. Because each split is a set of whole recordings, it selects the same recordings
from a 1-s pool or from a TAU 2020 (10-s) pool: :func:`official_split` maps both kinds of name to the recording.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_write_text
from asc.core.errors import InputError
from asc.data import tau

log = logging.getLogger(__name__)

PIECES = 10  # 1-s pieces per 10-s TAU 2020 clip
SPLIT_NAMES = ("split5", "split10", "split25", "split50", "split100")
# 1-s clips per official split (docs/tau2022_mobile.md §4: counted on public copies; split100 = fold1_train).
SPLIT_SIZES = {"split5": 6980, "split10": 13960, "split25": 34900, "split50": 69800, "split100": 139620}
TEST_SIZE = 29680  # test.csv = fold1_evaluate
SPLIT_BASE_URL = "https://github.com/CPJKU/dcase2024_task1_baseline/releases/download/files"
SPLIT_COLUMNS = ("filename", "scene_label")

_PIECE = re.compile(r"^(?P<stem>.+)-(?P<k>\d)-(?P<device>[a-z][a-z0-9]*)\.wav$")


def piece_name(recording: str, k: int) -> str:
    """The 1-s name of piece ``k`` (0…9) of the TAU 2020 clip ``recording`` (``…-<segment>-<device>.wav``)."""
    if not 0 <= int(k) < PIECES:
        raise ValueError(f"piece index {k} outside 0..{PIECES - 1}")
    stem, device = recording.removesuffix(".wav").rsplit("-", 1)
    return f"{stem}-{int(k)}-{device}.wav"


def parse_piece(filename: str) -> dict[str, str | int]:
    """Fields of a 1-s name: scene, city, location (``city-location``), recording (the 10-s name), piece, device.
    ValueError for a name without the piece index (a TAU 2020 name)."""
    name = str(filename).strip()
    m = _PIECE.match(name)
    parts = Path(name).stem.split("-")
    if not m or len(parts) != 6:
        raise ValueError(
            f"{filename!r} is not a TAU 2022 name <scene>-<city>-<location>-<segment>-<k>-<device>.wav"
        )
    return {
        "scene": parts[0],
        "city": parts[1],
        "location": f"{parts[1]}-{parts[2]}",
        "recording": f"{m['stem']}-{m['device']}.wav",
        "piece": int(m["k"]),
        "device": m["device"],
    }


def recording_of(filename: str) -> str:
    """The 10-s recording a name belongs to: its own name for a TAU 2020 name, the parent for a 1-s piece."""
    name = str(filename).strip()
    return parse_piece(name)["recording"] if len(Path(name).stem.split("-")) == 6 else name


def read_folds_1s(root: str | Path, **kwargs) -> pd.DataFrame:
    """:func:`asc.data.tau.read_folds` for the 1-s set, plus ``recording``; a location that meta.csv gives
    otherwise than as ``city-location`` is taken from the name (the 2022 identifier format is not verified)."""
    table = tau.read_folds(root, **kwargs)
    fields = [parse_piece(f) for f in table["filename"]]
    from_name = pd.Series([f["location"] for f in fields], index=table.index)
    odd = table["location"] != from_name
    if odd.any():
        log.warning(
            "%d clips of %s have a meta.csv identifier other than city-location (e.g. %s for %s); "
            "the location is taken from the file name",
            int(odd.sum()),
            root,
            table.loc[odd, "location"].iloc[0],
            table.loc[odd, "filename"].iloc[0],
        )
        table["location"] = from_name
    table["recording"] = [f["recording"] for f in fields]
    return table


# ---------------------------------------------------------------------------------------- official splits


def fetch_splits(
    dest: str | Path, names: Iterable[str] = (*SPLIT_NAMES, "test"), *, base_url: str = SPLIT_BASE_URL
) -> list[Path]:
    """Download the DCASE 2024 split files into ``dest`` (skipping those present and valid), each written
    atomically and checked by :func:`read_split`; returns their paths. InputError names a file that fails."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = dest / f"{name}.csv"
        if path.is_file():
            try:
                read_split(path, name)
                paths.append(path)
                continue
            except InputError as err:
                log.warning("%s; downloading it again", err)
        url = f"{base_url.rstrip('/')}/{urllib.parse.quote(path.name)}"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                text = response.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(
                f"could not download {url} ({err}); download it by hand into {dest} or set the split folder "
                "to one that holds it"
            ) from None
        read_split_text(text, name, url)
        atomic_write_text(path, text)
        paths.append(path)
    return paths


def read_split(path: str | Path, name: str | None = None, *, published: bool = True) -> list[str]:
    """The file names one official split file lists, after checking its content (see :func:`read_split_text`);
    ``name`` (split5 … split100, test) defaults to the file's stem. ``published=False``: a generated set's
    split file (:func:`write_splits`), whose row count is its own."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"official split file {path} is missing; fetch it with asc.data.tau2022.fetch_splits or download "
            f"{SPLIT_BASE_URL}/{path.name} into {path.parent}"
        )
    return read_split_text(path.read_text(encoding="utf-8"), name or path.stem, str(path), published)


def read_split_text(text: str, name: str, where: str, published: bool = True) -> list[str]:
    """Check one split file's text: header ``filename<TAB>scene_label``, the published row count (when
    ``published``), 1-s names of whole recordings (all ten pieces of each). InputError naming ``where`` and the
    first fault."""
    if name not in (*SPLIT_NAMES, "test"):
        raise InputError(f"{where}: unknown official split {name!r}; valid: {', '.join(SPLIT_NAMES)}, test")
    expected = SPLIT_SIZES.get(name, TEST_SIZE)
    lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    fmt = f"expected the DCASE 2024 split file: a tab-separated header {' <TAB> '.join(SPLIT_COLUMNS)}"
    if not lines or lines[0].split("\t")[: len(SPLIT_COLUMNS)] != list(SPLIT_COLUMNS):
        raise InputError(f"{where}, line 1: {(lines or [''])[0][:80]!r}; {fmt}")
    names = [line.split("\t")[0].strip() for line in lines[1:]]
    if published and len(names) != expected:
        raise InputError(
            f"{where}: {len(names)} clips, the published {name}.csv has {expected}; download it again "
            f"from {SPLIT_BASE_URL}/{name}.csv"
        )
    counts: dict[str, int] = {}
    for number, filename in enumerate(names, start=2):
        try:
            rec = parse_piece(filename)["recording"]
        except ValueError as err:
            raise InputError(f"{where}, line {number}: {err}") from None
        counts[rec] = counts.get(rec, 0) + 1
    partial = [r for r, c in counts.items() if c != PIECES]
    if partial:
        raise InputError(
            f"{where}: recording {partial[0]} has {counts[partial[0]]} of its {PIECES} pieces (the published "
            "splits hold whole 10-s recordings); download the file again"
        )
    return names


def check_nested(splits: dict[str, Sequence[str]]) -> None:
    """InputError unless each given split lies within every larger one (split5 ⊂ split10 ⊂ … ⊂ split100)."""
    order = [n for n in SPLIT_NAMES if n in splits]
    for small, large in zip(order, order[1:], strict=False):
        extra = set(splits[small]) - set(splits[large])
        if extra:
            raise InputError(
                f"official split {small} is not within {large} (e.g. {sorted(extra)[0]}); the published "
                "splits are nested: download both again"
            )


def official_split(
    name: str, pool: pd.DataFrame, split_dir: str | Path, *, strict: bool = True, published: bool = True
) -> np.ndarray:
    """Sorted positions (into ``pool``) of the rows whose recording the official split ``name`` lists.

    ``pool``: the rows to select from (column ``filename``: 1-s names, or TAU 2020 names — a split is a set of
    whole recordings, so it selects the same recordings from either). ``split_dir`` holds ``<name>.csv``.
    ``strict``: every recording of the split must be in the pool (DCASE 2024/2025 train on the whole split:
    use the pool ``fold1_train``); with ``strict=False`` the split is intersected with the pool (e.g. fold1_train
    minus a validation hold-out) and the loss logged. ``published=False``: the split files of a generated set
    (:func:`write_splits`). Raises InputError (missing or damaged file, strict miss).
    """
    if name not in SPLIT_NAMES:
        raise InputError(f"official split {name!r} is unknown; valid: {', '.join(SPLIT_NAMES)}")
    listed = read_split(Path(split_dir) / f"{name}.csv", name, published=published)
    wanted = {recording_of(f) for f in listed}
    recordings = np.array([recording_of(f) for f in pool["filename"]])
    hit = np.isin(recordings, list(wanted))
    missing = wanted - set(recordings[hit].tolist())
    if missing:
        message = (
            f"official split {name}: {len(missing)} of its {len(wanted)} recordings are not in the pool "
            f"(e.g. {sorted(missing)[0]})"
        )
        if strict:
            raise InputError(
                f"{message}; train on all of fold1_train as DCASE 2024/2025 do (finetune.train_on=fold1_train), "
                "or check that dataset.root is the complete set"
            )
        log.info("%s; using the %d that are", message, len(wanted) - len(missing))
    return np.flatnonzero(hit)


def write_splits(train: pd.DataFrame, dest: str | Path, *, seed: int = 0) -> dict[str, int]:
    """Split files in the official format for a generated set (the demo, the stand-in): nested subsets of
    5/10/25/50/100 % of fold1_train's recordings, stratified by scene and device like the published ones
    (:func:`asc.data.fractions.nested_fractions` on the recordings), each listing all ten 1-s pieces of its
    recordings (a 10-s set's clips are its recordings). ``train``: fold1_train rows (filename, scene, device).
    Returns the clips per split."""
    from asc.data.fractions import nested_fractions

    recs = pd.DataFrame(
        {
            "filename": [recording_of(f) for f in train["filename"]],
            "scene": train["scene"],
            "device": train["device"],
        }
    ).drop_duplicates("filename", ignore_index=True)
    shares = [int(n.removeprefix("split")) / 100 for n in SPLIT_NAMES]
    subsets = nested_fractions(recs, shares, seed=seed)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, share in zip(SPLIT_NAMES, shares, strict=True):
        rows = recs.iloc[subsets[share]]
        lines = ["\t".join(SPLIT_COLUMNS)] + [
            f"{piece_name(f, k)}\t{scene}"
            for f, scene in zip(rows["filename"], rows["scene"], strict=True)
            for k in range(PIECES)
        ]
        atomic_write_text(dest / f"{name}.csv", "\n".join(lines) + "\n")
        sizes[name] = PIECES * len(rows)
    return sizes


def split_dir_for(dataset: Mapping[str, Any], root: str | Path) -> tuple[Path, bool]:
    """Where a dataset's split files are, and whether they are the published ones: ``official_splits.dir`` of
    the real sets (tau2022mobile; tau2020mobile may name one too), else ``<root>/split_setup`` as a generated
    set's dataset stage writes it (:func:`write_splits`)."""
    block = dataset.get("official_splits") or {}
    if block.get("dir"):
        return Path(block["dir"]), True
    return Path(root) / "split_setup", False
