"""Stage ``dataset``: generated sets (demo, stand-in) are built into the data store; TAU is downloaded into
``dataset.root`` (or used where the user keeps it).

Key: what the dataset *is*. A generated set: its generator's settings. TAU downloaded by asc: the archive list
with sizes and MD5s (every zip is checked before it is extracted), never the folder it lives in, so moving
``data/`` keeps every key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.disk import Need
from asc.errors import InputError
from asc.step import Step, make_step

if TYPE_CHECKING:
    from asc.context import Context

# Built from their config into the data store; any other dataset lives at dataset.root.
GENERATED = ("demo", "standin")
# Metadata without audio: the features stage renders their features and decodes nothing.
FEATURES_ONLY = ("standin",)
WAV_BYTES_PER_SECOND = 44100 * 3  # the demo writes TAU's format: 44.1 kHz, 24-bit mono


def identity(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """What the dataset is: a generated set's generator settings, or TAU's archives with their sizes and MD5s."""
    if dataset["name"] in GENERATED:
        return {k: v for k, v in dataset.items() if k != "validation"}
    files = dataset.get("files") or {}
    archives = list(dataset.get("archives") or [])
    return {
        "name": dataset["name"],
        "archives": {a: files.get(a) for a in archives},
        "prefix": files.get("prefix"),
        "suffix": files.get("suffix"),
    }


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    d = cfg["dataset"]
    where = {} if d["name"] in GENERATED else {"root": str(d["root"])}
    return [make_step("dataset", d["name"], identity(d), **where)]


def root_of(step: Step, ctx: Context) -> Path:
    """The dataset folder: TAU's ``dataset.root``, or a generated set's artifact folder."""
    return Path(step.args["root"]) if "root" in step.args else ctx.path(step)


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    d, data = cfg["dataset"], Path(cfg["paths"]["data"])
    (step,) = steps
    if d["name"] == "demo":
        from asc.data.demo import plan_clips

        seconds = len(plan_clips(d)) * float(d["clip_seconds"])
        return [(step, Need(data, int(seconds * WAV_BYTES_PER_SECOND), "the demo audio"))]
    if d["name"] in GENERATED:
        return []
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
    from asc.data.prepare import download_needs

    return [(step, need) for need in download_needs(d)]


def run(steps: Sequence[Step], ctx: Context) -> None:
    d, rt = ctx.cfg["dataset"], ctx.runtime
    (step,) = steps
    if d["name"] == "demo":
        from asc.data import demo

        ctx.build(step, lambda work: demo.generate({**d, "workers": rt["workers"]}, work, rt["progress"]))
    elif d["name"] == "standin":
        from asc.data import standin

        ctx.build(
            step, lambda work: standin.write_standin(work, seed=int(d["seed"]), scale=float(d["scale"]))
        )
    else:  # TAU lives where the user keeps it, not in the store; it checks itself
        from asc.data.prepare import prepare_tau

        prepare_tau(d, progress=rt["progress"])
