"""Index of a dataset in the TAU Urban Acoustic Scenes 2020 Mobile layout (real or demo).

One table, one row per clip: filename, scene, city, location (the TAU identifier ``city-location``), device,
split (train | val | evaluate). ``val`` is the location-grouped ~30 % of fold1_train that the official baseline
holds out for model selection (docs/tau2020_mobile.md).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_path
from asc.core.errors import InputError
from asc.data.tau_metadata import COLUMNS, CsvFormatError, MetadataError, check_folds, read_table

__all__ = ["COLUMNS", "CsvFormatError", "MetadataError", "read_folds", "read_table"]

log = logging.getLogger(__name__)

# The baseline's one-hot order.
SCENES = [
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
]
SPLITS = ("train", "val", "evaluate")
REQUIRED = (
    "meta.csv",
    "evaluation_setup/fold1_train.csv",
    "evaluation_setup/fold1_evaluate.csv",
    "evaluation_setup/fold1_test.csv",
)


def parse_filename(filename: str) -> dict[str, str]:
    """``audio/<scene>-<city>-<location>-<segment>-<device>.wav`` → its fields (scene labels never contain '-')."""
    parts = Path(filename).stem.split("-")
    if len(parts) < 5:
        raise ValueError(f"{filename!r} is not named <scene>-<city>-<location>-<segment>-<device>.wav")
    return {"scene": parts[0], "city": parts[1], "location": "-".join(parts[1:-2]), "device": parts[-1]}


def location_split(
    train: pd.DataFrame, val_fraction: float = 0.3, seed: int = 0, draws: int = 100
) -> np.ndarray:
    """Boolean mask of validation rows, grouped by recording location.

    Like the official tool: per scene and city, shuffle that city's locations and move ceil(f·n) of them to
    validation (never all of them: at least one location per scene and city stays in training when it has two or
    more); repeat ``draws`` times from one seeded generator and keep the draw whose clip ratio is closest to f.
    """
    rng = np.random.default_rng(seed)
    groups = {k: sorted(g["location"].unique()) for k, g in train.groupby(["scene", "city"], sort=True)}
    best, best_err = None, math.inf
    for _ in range(draws):
        val_locs: set[str] = set()
        for locs in groups.values():
            n_val = min(math.ceil(val_fraction * len(locs)), max(len(locs) - 1, 1))
            val_locs.update(rng.permutation(locs)[:n_val].tolist())
        mask = train["location"].isin(val_locs).to_numpy()
        err = abs(mask.mean() - val_fraction)
        if err < best_err:
            best, best_err = mask, err
    return best


def write_metadata(root: str | Path, table: pd.DataFrame) -> None:
    """Write ``table`` (filename, scene, location, device, split = train | evaluate) as the TAU layout's metadata:
    meta.csv and evaluation_setup/fold1_{train,evaluate,test}.csv, tab-separated, each file atomically — what
    :func:`read_folds` reads back."""
    setup = Path(root) / "evaluation_setup"
    setup.mkdir(parents=True, exist_ok=True)
    train, evaluate = (table[table["split"] == s] for s in ("train", "evaluate"))
    files = {
        "meta.csv": table[["filename", "scene", "location", "device"]],
        "evaluation_setup/fold1_train.csv": train[["filename", "scene"]],
        "evaluation_setup/fold1_evaluate.csv": evaluate[["filename", "scene"]],
        "evaluation_setup/fold1_test.csv": evaluate[["filename"]],
    }
    for name, rows in files.items():
        with atomic_path(Path(root) / name) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(COLUMNS[name])
            w.writerows(rows.itertuples(index=False))


def read_folds(
    root: str | Path, *, expected_counts: Mapping[str, int] | None = None, audio: bool = True
) -> pd.DataFrame:
    """Read meta.csv and the fold files of ``root`` into one table (``split`` = the fold: train | evaluate),
    after the format and content checks of asc/data/tau_metadata.py (CsvFormatError / MetadataError naming the
    file, line and clip). Clips whose audio is absent are dropped with a warning: a partial download works on
    what is there. ``audio=False``: a features-only dataset (the stand-in), no WAV to look for."""
    root = Path(root)
    missing = [n for n in REQUIRED if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"dataset folder {root} lacks {', '.join(missing)}; download or generate the dataset first "
            "(for TAU: its meta archive), or point dataset.root at a complete copy"
        )
    meta = read_table(root, "meta.csv")
    folds = {
        "train": read_table(root, "evaluation_setup/fold1_train.csv"),
        "evaluate": read_table(root, "evaluation_setup/fold1_evaluate.csv"),
    }
    check_folds(root, meta, folds, SCENES)
    table = _clip_table(meta, folds)
    present = np.array([not audio or (root / f).is_file() for f in table["filename"]])
    if not present.all():
        gone = table.loc[~present]
        log.warning(
            "%d clips listed in the fold files have no audio under %s (e.g. %s); they are excluded",
            len(gone),
            root,
            gone["filename"].iloc[0],
        )
        table = table.loc[present].reset_index(drop=True)
    for split, expected in dict(expected_counts or {}).items():
        have = int((table["split"] == split).sum())
        if have != int(expected):
            log.warning("fold1_%s has %d clips with audio; the full dataset has %d", split, have, expected)
    for split, what in (("train", "to train on"), ("evaluate", "to evaluate on")):
        if not (table["split"] == split).any():
            raise InputError(
                f"{root / f'evaluation_setup/fold1_{split}.csv'} lists no clip whose audio is under {root}: "
                f"nothing {what}; fill that fold file, or point dataset.root at the complete copy"
            )
    return table


def _clip_table(meta: pd.DataFrame, folds: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per clip of the fold files: filename, scene, city (from the file name), location and device (from
    meta.csv, authoritative for identifier and device) and split (the fold's name)."""
    where = dict(
        zip(meta["filename"], zip(meta["identifier"], meta["source_label"], strict=True), strict=True)
    )
    rows = []
    for split, fold in folds.items():
        for filename, scene in zip(fold["filename"], fold["scene_label"], strict=True):
            fields = parse_filename(filename)
            location, device = where[filename]
            rows.append(
                {
                    "filename": filename,
                    "scene": scene,
                    "city": fields["city"],
                    "location": location,
                    "device": device,
                    "split": split,
                }
            )
    return pd.DataFrame(rows)


def build_index(root: str | Path, cfg: Mapping[str, Any] | None = None, seed: int = 0) -> pd.DataFrame:
    """The folds of ``root`` with our grouped 30 % hold-out drawn with ``seed`` (tests and notebooks; the index
    stage calls :func:`read_folds` and :func:`split_validation` with the configured method)."""
    table = read_folds(root, expected_counts=(cfg or {}).get("expected_counts"))
    return split_validation(table, method="grouped", amount=0.3, seed=seed)


def save_index(table: pd.DataFrame, out_dir: Path) -> None:
    """index.csv plus one file list per split (the saved, reusable split): each clip's scene, or its tags
    (``labels``) for a tagging set."""
    table.to_csv(out_dir / "index.csv", index=False)
    for split in SPLITS:
        table.loc[table["split"] == split, [c for c in ("filename", "scene", "labels") if c in table]].to_csv(
            out_dir / f"{split}.csv", index=False
        )


def load_index(path: Path) -> pd.DataFrame:
    return pd.read_csv(Path(path) / "index.csv", dtype=str, keep_default_na=False)


def split_validation(table: pd.DataFrame, *, method: str, amount: float, seed: int) -> pd.DataFrame:
    """Mark the validation hold-out of fold1_train (split ``train`` → ``val``): ``grouped`` is our deterministic
    location-grouped draw (:func:`location_split`), ``official`` dcase_util's exact draw (asc/data/official_split)."""
    train = (table["split"] == "train").to_numpy()
    rows = table.loc[train].reset_index(drop=True)
    if method == "grouped":
        val = location_split(rows, val_fraction=amount, seed=seed)
    elif method == "official":
        from asc.data.official_split import official_validation_split

        val = official_validation_split(rows, validation_amount=amount, seed=seed)
    else:
        raise ValueError(f"dataset.validation.method={method!r}; valid: grouped, official")
    out = table.copy()
    out.loc[train, "split"] = np.where(val, "val", "train")
    counts = out["split"].value_counts()
    log.info("index: %s clips (%s)", len(out), ", ".join(f"{s} {counts.get(s, 0)}" for s in SPLITS))
    return out
