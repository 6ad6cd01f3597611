"""Stage ``dataset``: generated sets (demo, stand-in) are built into the data store; TAU is downloaded into
``dataset.root`` (or used where the user keeps it).

Key: what the dataset *is* (:func:`identity`), never where it lives, so moving a folder keeps every key: a
generated set's settings; a user's own copy (``dataset.download=false``) by what it holds, so a changed folder
re-keys everything downstream; TAU downloaded by asc by its archives' sizes and MD5s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need
from asc.core.errors import InputError
from asc.data.kinds import kind_of
from asc.pipeline.step import Step, make_step

if TYPE_CHECKING:
    from asc.pipeline.context import Context


def identity(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """What the dataset is: a generated set's generator settings; a folder the user brings
    (``dataset.download=false``, or a complete copy asc did not extract: :func:`brought`), what it holds (asc.data.fingerprint.folder_identity: metadata content, audio files
    and sizes, with ``dataset.content_hash`` every file's SHA-256); TAU downloaded by asc, its archives with their
    sizes and MD5s (every zip is checked before it is extracted). The sets of asc.data.layouts likewise: a
    folder the user brings by :func:`asc.data.layouts.folder_key`, a download by its archives."""
    from asc.data.layouts import folder_key, layout_of

    layout = layout_of(dataset)
    if layout is not None and layout.generated:
        return {k: v for k, v in dataset.items() if k not in ("root", "download")}
    if layout is not None:
        if not layout.downloadable or not dataset.get("download", True):
            return folder_key(dataset)
        files = dataset.get("files") or {}
        archives = {a: files.get(a) for a in dataset["archives"]}
        return {"name": dataset["name"], "archives": archives} | {k: dataset.get(k) for k in layout.keyed}
    if kind_of(dataset).generated:  # `kind` is a declaration of the config, not data: it keys nothing
        return {k: v for k, v in dataset.items() if k not in ("validation", "kind")}
    if not dataset.get("download", True) or brought(dataset):
        from asc.data.fingerprint import folder_identity

        return {
            "name": dataset["name"],
            "folder": folder_identity(dataset["root"], full_hash=bool(dataset.get("content_hash"))),
        }
    files = dataset.get("files") or {}
    archives = list(dataset.get("archives") or [])
    return {
        "name": dataset["name"],
        "archives": {a: files.get(a) for a in archives},
        "prefix": files.get("prefix"),
        "suffix": files.get("suffix"),
    }


def brought(dataset: Mapping[str, Any]) -> bool:
    """A complete copy at ``dataset.root`` that asc did not extract (no extraction record for some selected
    archive): the user brought it, so it is keyed by what it holds even with ``dataset.download=true`` (nothing
    will be downloaded into it). A folder asc downloads keeps its archive key before, during and after the
    download: an archive another job is extracting (its lock held, its files maybe all there, its record not
    yet) counts as extracted by asc, so two jobs on one folder never key it differently by timing."""
    from asc.data.archive import is_being_extracted, is_extracted
    from asc.data.prepare import is_complete
    from asc.data.zenodo import archives_from_config

    root = Path(dataset["root"])
    selected = archives_from_config(dataset["files"], list(dataset["archives"]))
    by_asc = all(is_extracted(a.name, root) or is_being_extracted(a.name, root) for a in selected)
    return not by_asc and is_complete(root)


def ready(cfg: Mapping[str, Any]) -> bool:
    """Whether the dataset's content exists as the job will read it, so that the later stages' checks see it at
    planning: a generated set (its content follows from the config), a folder the user keeps
    (``dataset.download=false``: it is what it is), or a download whose selected archives are all extracted
    (or a complete copy). Otherwise those checks run when the content first exists inside the job (asc/pipeline/execute.py),
    not on a half-extracted folder that another job is still filling."""
    d = cfg["dataset"]
    from asc.data.layouts import layout_of

    layout = layout_of(d)
    if layout is not None:  # generated, brought, or downloaded and complete
        return (
            layout.generated
            or not layout.downloadable
            or not d.get("download", True)
            or layout.complete(Path(d["root"]))
        )
    if kind_of(d).generated or not d.get("download", True):
        return True
    from asc.data.archive import is_extracted
    from asc.data.prepare import is_complete
    from asc.data.zenodo import archives_from_config

    root = Path(d["root"])
    selected = archives_from_config(d["files"], list(d["archives"]))
    return all(is_extracted(a.name, root) for a in selected) or is_complete(root)


def results_label(cfg: Mapping[str, Any], steps: Sequence[Step]) -> str:
    """The ``dataset`` of the results rows built from ``steps``' dataset step (asc.report.rows.dataset_label)."""
    from asc.report.rows import dataset_label

    data = next(found for s in steps if (found := s.origin("dataset")) is not None)
    return dataset_label(cfg["dataset"], data.key if "folder" in data.config else None)


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    d = cfg["dataset"]
    from asc.data.layouts import layout_of

    layout = layout_of(d)
    generated = kind_of(d).generated or (layout is not None and layout.generated)
    where = {} if generated else {"root": str(d["root"])}
    return [make_step("dataset", d["name"], identity(d), **where)]


def root_of(step: Step, ctx: Context) -> Path:
    """The dataset folder: TAU's ``dataset.root``, or a generated set's artifact folder."""
    return Path(step.args["root"]) if "root" in step.args else ctx.path(step)


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    d, data = cfg["dataset"], Path(cfg["paths"]["data"])
    (step,) = steps
    from asc.data.layouts import layout_of

    layout = layout_of(d)
    if layout is not None:
        return _check_layout(step, d, layout, data)
    kind = kind_of(d)
    if kind.generated:  # built into the data store
        size = kind.store_bytes(d)
        return (
            [(step, Need(data, size, f"the {d['name']} set", "point paths.data at a larger disk"))]
            if size
            else []
        )
    root = Path(d["root"])
    if not d.get("download", True):
        from asc.data.tau import REQUIRED

        lacking = [name for name in REQUIRED if not (root / name).is_file()]
        if lacking:
            raise InputError(
                f"dataset.root={root} lacks {', '.join(lacking)} (dataset.download=false); point dataset.root at "
                "the folder that holds meta.csv, audio/ and evaluation_setup/, or set dataset.download=true"
            )
        return []
    from asc.core.disk import check_writable
    from asc.data.prepare import download_needs, is_complete

    if not is_complete(root):  # something will be downloaded and extracted there
        if "meta" not in list(d["archives"]) and not (root / "meta.csv").is_file():
            raise InputError(
                f"dataset.archives={list(d['archives'])} lacks meta (meta.csv and the fold files), which "
                f"dataset.root={root} does not hold either: add meta to dataset.archives"
            )
        check_writable(root, what="the dataset folder", setting="dataset.root")
        check_writable(d["download_dir"], what="the download folder", setting="dataset.download_dir")
    return [(step, need) for need in download_needs(d)]


def _check_layout(step: Step, d: Mapping[str, Any], layout: Any, data: Path) -> list[tuple[Step, Need]]:
    """Planning for a set of asc.data.layouts: its own values and brought folder; a download's sizes and MD5s
    known and its folders writable, the downloads on the disk plan."""
    from asc.core.disk import check_writable
    from asc.data.archive_sets import check_download, download_needs

    layout.check(d)
    if layout.read is not None and not d.get("download", True):  # a brought folder: its index checked now
        layout.read(Path(d["root"]))
    if layout.generated:
        return [
            (
                step,
                Need(
                    data,
                    layout.generated_bytes(d),
                    f"the {d['name']} clips",
                    "point paths.data at a larger disk",
                ),
            )
        ]
    if not layout.downloadable or not d.get("download", True) or layout.complete(Path(d["root"])):
        return []
    check_download(d)
    check_writable(d["root"], what="the dataset folder", setting="dataset.root")
    check_writable(d["download_dir"], what="the download folder", setting="dataset.download_dir")
    return [(step, need) for need in download_needs(d)]  # the archives (a split one's parts) and their files


def run(steps: Sequence[Step], ctx: Context) -> None:
    d, rt = ctx.cfg["dataset"], ctx.runtime
    (step,) = steps
    from asc.data.layouts import layout_of

    layout = layout_of(d)
    if layout is not None and layout.generated:
        ctx.build(step, lambda work: layout.generate(d, work), rebuild_damaged=True)
        return
    if layout is not None:
        if layout.downloadable:
            from asc.data.archive_sets import prepare

            prepare(d, layout.complete, progress=rt["progress"])
        return
    kind = kind_of(d)
    if kind.generated:
        ctx.build(step, lambda work: kind.build(d, work, rt), rebuild_damaged=True)
    else:  # TAU lives where the user keeps it, not in the store; it checks itself
        from asc.data.prepare import prepare_tau

        prepare_tau(d, progress=rt["progress"])
        splits = d.get("official_splits") or {}
        if splits.get("dir") and d.get("download", True):  # the DCASE 2024 split files (tau2022mobile)
            from asc.data.tau2022 import fetch_splits

            fetch_splits(splits["dir"], base_url=splits["base_url"])
