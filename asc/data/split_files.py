"""The DCASE 2024 official splits (split5 … split100) as a stage uses them: checked at planning, resolved into
positions of a training pool when the index is built. Both the baseline (``train.split``, as DCASE 2025 trains
on split25) and fine-tuning (``runs`` blocks' ``splits``) read them here; the files' format and the selection
of recordings are asc/data/tau2022.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.errors import InputError

log = logging.getLogger(__name__)


def fraction_of(name: str) -> float:
    """The share of fold1_train an official split holds (split25 → 0.25): its ``fraction`` in the results."""
    return int(name.removeprefix("split")) / 100


def check_files(cfg: Mapping[str, Any], names: Sequence[str], *, key: str) -> None:
    """The official splits list 1-s clips (TAU 2022 naming): a generated set has them only in its 1-s variant
    (its dataset stage writes them); published files or a folder's own are read now, where they exist.
    ``key``: the config key that asked for them, named in the error. Raises InputError."""
    if not names:
        return
    from asc.data.kinds import kind_of
    from asc.data.tau2022 import read_split, split_dir_for

    d = cfg["dataset"]
    if kind_of(d).generated:
        if kind_of(d).pieces(d) == 1:
            raise InputError(
                f"{key}: {list(names)} are DCASE 2024's splits of 1-s clips, which dataset={d['name']} "
                "(10-s clips) has none of: use its 1-s variant (dataset=demo1s or standin1s, with "
                "features=logmel40x51 model=dcase22) or fractions"
            )
        return
    split_dir, published = split_dir_for(d, d.get("root", ""))
    for name in names:
        path = split_dir / f"{name}.csv"
        if path.is_file():
            read_split(path, name, published=published)
        elif not published:
            raise InputError(
                f"{key}: {path} does not exist; put the DCASE 2024 split files there or name their "
                "folder in dataset.official_splits.dir"
            )


def positions(
    name: str, pool: Any, dataset: Mapping[str, Any], root: str | Path, *, strict: bool, key: str
) -> Any:
    """Sorted positions into ``pool`` (index rows with ``filename``) of the clips whose recordings the official
    split ``name`` lists; ``strict``: every listed recording must be in the pool (DCASE 2024/2025 train on the
    whole split of fold1_train). Warns when a small generated set cannot hold the split's share. Raises
    InputError naming ``key`` (a missing recording under ``strict``, a damaged file)."""
    from asc.data.tau2022 import official_split, split_dir_for

    split_dir, published = split_dir_for(dataset, root)
    try:
        found = official_split(name, pool, split_dir, strict=strict, published=published)
    except InputError as err:
        raise InputError(f"{key}={name}: {err}") from None
    nominal, share = fraction_of(name), len(found) / max(len(pool), 1)
    if abs(share - nominal) > nominal / 2:  # a tiny generated set cannot hold every split's share
        log.warning(
            "official split %s holds %d of the pool's %d clips (%.0f %%), not %g %%: its results do not "
            "stand for %s (the set is too small for its split files)",
            name, len(found), len(pool), 100 * share, 100 * nominal, name,
        )  # fmt: skip
    return found
