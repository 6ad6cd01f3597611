"""Stage ``index``: one row per clip with its split (train | val | evaluate), the validation hold-out drawn here.

Key: the hold-out's settings (``dataset.validation``: method, amount, its own seed) and the dataset's key.
The index is a pure function of the metadata, so wherever the metadata exists before anything is built (a
generated set's config, a user's own TAU folder) :func:`preview` computes the very table the stage will write,
and later stages check against it at planning time (e.g. a fine-tuning fraction too small for a stratum).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.core.errors import ConfigError, InputError
from asc.data.kinds import kind_of
from asc.data.layouts import layout_of
from asc.pipeline.stages import dataset
from asc.pipeline.step import Step, make_step

if TYPE_CHECKING:
    import pandas as pd

    from asc.pipeline.context import Context

log = logging.getLogger(__name__)


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    d = cfg["dataset"]
    (data,) = up["dataset"]
    label = f"{d['name']} {d['validation']['method']} split"
    return [make_step("index", label, {"validation": d["validation"]}, (data,))]


def folds(cfg: Mapping[str, Any]) -> pd.DataFrame | None:
    """The dataset's folds (asc.data.tau.read_folds' table) if they can be known before building: a generated
    set's from its config, a TAU folder's when its metadata is there; else None (still to be downloaded). Read
    once per dataset config and folder state (several checks and the dry run ask). A download still under way
    (another job may be extracting it) counts as not there (:func:`asc.pipeline.stages.dataset.ready`): its checks run
    once it is complete, with the same messages."""
    from asc.data.tau import REQUIRED

    d = cfg["dataset"]
    if not dataset.ready(cfg):
        return None
    root = Path(str(d.get("root", "")))
    layout = layout_of(d)
    if layout is not None:  # a set of asc.data.layouts: its index once its files are there (not generated)
        if layout.generated:
            return None
        # what the index is read from: the metadata files, or a packed set's HDF5 files
        names = layout.metadata or tuple(str(n) for n in dict(d["files"]).values())
        if not all((root / n).is_file() for n in names):
            return None
        stamp = tuple(_stamp(root / n) for n in names)
        return _layout_folds(json.dumps(d, sort_keys=True, default=str), stamp).copy()
    stamp = tuple(_stamp(root / name) for name in (*REQUIRED, "audio"))
    table = _folds(json.dumps(d, sort_keys=True, default=str), stamp)
    return None if table is None else table.copy()


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _folds(dataset_json: str, stamp: tuple) -> pd.DataFrame | None:
    d = json.loads(dataset_json)
    return kind_of(d).fold_table(d)


@functools.lru_cache(maxsize=2)
def _layout_folds(dataset_json: str, stamp: tuple) -> pd.DataFrame:
    d = json.loads(dataset_json)
    return layout_of(d).index(Path(d["root"]), d)


def held_out(table: pd.DataFrame, d: Mapping[str, Any]) -> pd.DataFrame:
    """The folds ``table`` with the validation hold-out of ``dataset.validation`` marked ``val``: the dataset
    layout's own draw (asc.data.layouts), else TAU's (grouped by location, or dcase_util's official one)."""
    from asc.data import tau

    v, layout = d["validation"], layout_of(d)
    if layout is not None:
        return layout.validation(table, v)
    return tau.split_validation(table, method=v["method"], amount=float(v["amount"]), seed=int(v["seed"]))


def preview(cfg: Mapping[str, Any]) -> pd.DataFrame | None:
    """The index this job will build (see the module docstring), or None when its metadata is not there yet.
    Silent: the hold-out's clip count (``index: N clips``) is logged once, when the stage builds the index; the
    checks and the dry run preview it several times per job."""
    from asc.data import tau

    table = folds(cfg)
    if table is None:
        return None
    with _quiet(tau.log):
        return held_out(table, cfg["dataset"])


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """``logger``'s info lines dropped for the block (its warnings kept)."""
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    if not kind_of(cfg["dataset"]).generated and layout_of(cfg["dataset"]) is None:  # TAU's own metadata
        table = folds(cfg)  # a user's own metadata is read (and its faults named) before anything is built
        if table is not None:
            _warn_untrained_scenes(table, cfg["dataset"]["root"])
            _refuse_empty_audio(table, Path(cfg["dataset"]["root"]))
    table = preview(cfg)
    if table is not None:
        _check_splits_hold_clips(table, cfg)
    return []


def _check_splits_hold_clips(table: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """The hold-out must leave clips to train on, and hold some where the best epoch is chosen on it."""
    v = cfg["dataset"]["validation"]
    sizes = table["split"].value_counts()
    selects_on_val = "val" in (cfg["train"]["select_on"], cfg["finetune"]["select_on"])
    for split, needed in (("train", True), ("val", selects_on_val)):
        if needed and not sizes.get(split, 0):
            fold = int(sizes.get("train", 0) + sizes.get("val", 0))
            raise ConfigError(
                f"the index would hold no {split} clip: of fold1_train's {fold} clips, the hold-out "
                f"(dataset.validation.method={v['method']}, amount={v['amount']}) takes "
                f"{int(sizes.get('val', 0))}; change dataset.validation.amount"
                + (
                    ", or give the demo more locations (dataset.train_locations)"
                    if "train_locations" in cfg["dataset"]
                    else ""
                )
                + (
                    " or select on test (train.select_on=test finetune.select_on=test)"
                    if split == "val"
                    else ""
                )
            )


WAV_HEADER_BYTES = 44  # the smallest RIFF/WAVE file (its header): anything shorter holds no audio


def _refuse_empty_audio(table: pd.DataFrame, root: Path) -> None:
    """A listed clip that is an empty (or header-less) file fails only when its features are computed: name it
    now, with one stat per clip (as the folder's key takes its sizes)."""
    for name in table["filename"]:
        size = (root / name).stat().st_size
        if size < WAV_HEADER_BYTES:
            raise InputError(
                f"{root / name} is {size} bytes, not a WAV file (a failed copy or download?); replace it with "
                "the clip the fold files name, or remove it from them"
            )


def _warn_untrained_scenes(table: pd.DataFrame, root: str) -> None:
    """A scene that no fold1_train clip (with audio) holds is evaluated but never learned: say which."""
    from asc.data.tau import SCENES

    missing = sorted(set(SCENES) - set(table.loc[table["split"] == "train", "scene"]))
    if missing:
        log.warning(
            "fold1_train under %s has no clip (with audio) of %d scene(s): %s; the network never learns them",
            root,
            len(missing),
            ", ".join(missing),
        )


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.data import tau

    d = ctx.cfg["dataset"]
    layout = layout_of(d)
    audio = kind_of(d).has_audio  # a features-only set has no WAV to look for
    generated = kind_of(d).generated
    for step in steps:
        root = dataset.root_of(step.up("dataset"), ctx)

        def build(work: Path, root: Path = root) -> dict[str, Any]:
            if layout is not None:  # a packed set (asc.data.layouts): its own index reader
                table = layout.index(root, d)
            elif (
                not generated
                and root == Path(str(d.get("root", "")))
                and (planned := folds(ctx.cfg)) is not None
            ):
                table = planned  # planning's read of the user's folder (its warnings logged then), unless it changed
            else:
                table = tau.read_folds(root, expected_counts=d.get("expected_counts") or {}, audio=audio)
            table = held_out(table, d)
            tau.save_index(table, work)
            return {"clips": table["split"].value_counts().to_dict()}

        ctx.build(step, build, rebuild_damaged=True)


def approx_fold_clips(cfg: Mapping[str, Any]) -> int:
    """fold1_train's clips (every clip outside the evaluation fold) before the index exists: the dataset kind's
    estimate, else, for a brought folder whose kind declares no count (ESC-50, TUT 2018, FSD50K), the clips of
    the index this job will build (``index.preview``: its metadata read), else 0 (nothing to read yet)."""
    from asc.data.fractions import pool_of

    d = cfg["dataset"]
    n = int(kind_of(d).train_clips(d))
    if n:
        return n
    table = preview(cfg)
    return 0 if table is None else len(pool_of(table, "fold1_train"))
