"""The baseline model a job trains or is given, as planning sees it: its spec (the model config's, or the
``train.init_from`` file's), its classes and input checked against the dataset and the features, and the disk its
artifacts take. The train, finetune, perdevice and prune stages' checks share it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need, model_artifact_bytes
from asc.core.errors import ConfigError, InputError
from asc.data.tasks import classes_of

if TYPE_CHECKING:
    from asc.pipeline.step import Step


def parameters(spec: Mapping[str, Any]) -> int:
    """Parameters of a DCASE21-family spec (convs, BN, dense layers), for the disk estimate only."""
    k, c_in, n = int(spec["kernel"]), 1, 0
    height, width = spec["input_shape"]
    for c_out, pool in zip(spec["widths"], spec["pools"], strict=True):
        n += k * k * c_in * c_out + 5 * c_out  # weights, bias, BN (gamma, beta, mean, var)
        if pool is not None:
            height, width = height // pool[0], width // pool[1]
        c_in = c_out
    dense, classes = int(spec["dense"]), int(spec["n_classes"])
    return n + (c_in * height * width + 1) * dense + (dense + 1) * classes


def check_model(shape: Mapping[str, Any], cfg: Mapping[str, Any], *, what: str) -> None:
    """The model's classes and input (mel bands, frames) against the dataset's scenes and the features."""
    f = cfg["features"]
    bands, frames = (int(v) for v in shape["input_shape"])
    error = InputError if what.startswith("train.init_from") else ConfigError
    if int(shape["n_classes"]) != classes_of(cfg["dataset"]):
        raise error(
            f"{what} has {shape['n_classes']} output classes, but {cfg['dataset']['name']} has "
            f"{classes_of(cfg['dataset'])} classes"
        )
    if (bands, frames) != (int(f["n_mels"]), int(f["frames"])):
        raise error(
            f"{what} takes input of {bands} mel bands x {frames} frames, but the features are "
            f"{f['n_mels']} x {f['frames']} (features.n_mels, features.frames): use a model for that input "
            "or features that match it"
        )


def baseline_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of the baseline the job prunes: the model config's, or the ``train.init_from`` file's (read once
    per file version; raises InputError naming the file when it is not a model)."""
    from asc.nets import family_of

    source = cfg["train"].get("init_from")
    if (
        not source or not family_of(cfg["model"]).exact_surgery
    ):  # a zoo network's file: asc/nets/checkpoint.py
        return {k: v for k, v in cfg["model"].items() if k != "name"}
    stat = Path(source).stat()
    return dict(_file_spec(str(source), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _file_spec(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    from asc.core.checks import require_finite
    from asc.nets.model_file import read_model_file

    try:
        model, _ = read_model_file(path)
        require_finite("its weights", model.state_dict())
    except Exception as err:  # noqa: BLE001 - any reader failure is the file's: name it, in one line
        why = (str(err).strip().splitlines() or [type(err).__name__])[0]
        why = why.replace(f"{path} ", "it ", 1)  # the path is named once, not nested in its own line
        raise InputError(
            f"train.init_from={path} cannot be read as a model: {why}; give a Keras model.save('x.h5') file of "
            "the DCASE21 family or an asc model.pt"
        ) from None
    if not hasattr(model, "spec"):  # a zoo/custom network's asc checkpoint: its family is named by model=
        raise InputError(
            f"train.init_from={path} holds a {type(model).__name__} network (an asc zoo checkpoint): name its "
            "network with model=<zoo name>"
        )
    return model.spec


def check_zoo(steps: Sequence[Step], cfg: Mapping[str, Any], fam: Any) -> list[tuple[Step, Need]]:
    """A zoo network (asc/nets/): its classes against the dataset's scenes, and a ``train.init_from`` file read
    and matched against the network (layer names, shapes, classes; asc/nets/checkpoint.py, which imports torch,
    as the DCASE family's file check does). The disk estimate takes the published size (10^6 parameters when none)."""
    m, source = cfg["model"], cfg["train"].get("init_from")
    if int(m.get("n_classes", fam.n_classes)) != classes_of(cfg["dataset"]):
        raise ConfigError(
            f"model.n_classes={m.get('n_classes', fam.n_classes)}, but {cfg['dataset']['name']} has "
            f"{classes_of(cfg['dataset'])} classes: set model.n_classes={classes_of(cfg['dataset'])}"
        )
    if source:
        stat = Path(source).stat()
        _zoo_file(str(source), stat.st_mtime_ns, stat.st_size, _frozen(m))
    size = fam.published_params or 10**6  # a custom network's size is unknown before it is built
    need = Need(
        Path(cfg["paths"]["store"]),
        model_artifact_bytes(size, trains=not source),
        "baselines",
        "point paths.store at a larger disk",
    )
    return [(step, need) for step in steps]


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


@functools.lru_cache(maxsize=8)
def _zoo_file(path: str, mtime_ns: int, size: int, spec: tuple) -> None:
    from asc.nets.checkpoint import read_pretrained

    try:
        read_pretrained(path, _thaw(spec))
    except ValueError as err:
        raise InputError(str(err).splitlines()[0]) from None


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and all(
        isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value
    ):
        return {k: _thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def model_need(cfg: Mapping[str, Any], spec: Mapping[str, Any], what: str, *, trains: bool = True) -> Need:
    """The disk a model artifact of ``spec``'s size takes at its peak (:func:`asc.core.disk.model_artifact_bytes`:
    checkpoints while it ``trains``, the model); a zoo network's by its published size (10^6 parameters when none:
    a custom network is not built to plan)."""
    from asc.nets import family_of

    fam = family_of(cfg["model"])
    return Need(
        Path(cfg["paths"]["store"]),
        model_artifact_bytes(
            parameters(spec) if fam.exact_surgery else fam.published_params or 10**6, trains=trains
        ),
        what,
        "point paths.store at a larger disk",
    )
