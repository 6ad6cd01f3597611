"""The baseline model a job trains or is given, as planning sees it: its spec (the model config's, or the
``train.init_from`` file's), its classes and input checked against the dataset and the features, and the disk its
artifacts take (the configured network's size, pruned where the criterion config says its widths: by the family's
torch-free formula where it has one, asc/nets/counts.py, the DCASE family and VGGish_Net; any other zoo network
counted on torch's meta device, :func:`stored_params`). The train, finetune, perdevice, prune and quantise stages' checks share it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need, model_artifact_bytes, rewrite_bytes
from asc.core.errors import ConfigError, InputError
from asc.data.tasks import classes_of

if TYPE_CHECKING:
    from asc.pipeline.step import Step

log = logging.getLogger(__name__)
# The size assumed for a network that cannot be built to plan (a custom factory that fails): unknown.
UNKNOWN_PARAMS = 10**6


def parameters(spec: Mapping[str, Any]) -> int:
    """Parameters of a DCASE21-family spec (convs, BN, dense layers), for the disk estimate only
    (:func:`asc.nets.counts.dcase`)."""
    from asc.nets.counts import dcase

    return dcase(spec)["params"]


def planned_counts(cfg: Mapping[str, Any], spec: Mapping[str, Any] | None = None) -> dict[str, int] | None:
    """``{"params", "macs"}`` (values a checkpoint holds, MACs per clip) of the job's network at ``spec`` (default:
    :func:`baseline_spec`) by its family's torch-free formula (``Family.counts``, asc/nets/counts.py), on the
    input the model and features configs give; None where the family has none or the formula refuses the spec
    (logged), so that the caller counts the network as built."""
    from asc.nets import family_of, input_shape_of

    formula = family_of(cfg["model"]).counts
    if formula is None:
        return None
    try:
        return formula(
            baseline_spec(cfg) if spec is None else spec, input_shape_of(cfg["model"], cfg["features"])
        )
    except (ValueError, KeyError, TypeError) as err:
        log.warning("the formula cannot count model=%s (%s): counted as built", cfg["model"]["name"], err)
        return None


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
    as the DCASE family's file check does). The disk estimate counts the configured network (:func:`stored_params`)."""
    m, source = cfg["model"], cfg["train"].get("init_from")
    if int(m.get("n_classes", fam.n_classes)) != classes_of(cfg["dataset"]):
        raise ConfigError(
            f"model.n_classes={m.get('n_classes', fam.n_classes)}, but {cfg['dataset']['name']} has "
            f"{classes_of(cfg['dataset'])} classes: set model.n_classes={classes_of(cfg['dataset'])}"
        )
    if source:
        stat = Path(source).stat()
        _zoo_file(str(source), stat.st_mtime_ns, stat.st_size, _frozen(m))
    need = model_need(cfg, baseline_spec(cfg), "baselines", trains=not source, stage="train")
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


def model_need(
    cfg: Mapping[str, Any],
    spec: Mapping[str, Any],
    what: str,
    *,
    trains: bool = True,
    stage: str = "finetune",
) -> Need:
    """The disk a model artifact of ``spec``'s size takes (:func:`asc.core.disk.model_artifact_bytes`: checkpoints
    while it ``trains`` by ``stage``'s recipe, the model), with the rewrite of its resume checkpoint as the
    transient where it trains; ``spec``'s size by its family's formula (:func:`planned_counts`: the DCASE
    family, VGGish_Net), any other network's the configured one's (:func:`stored_params`, an upper bound for a
    pruned spec)."""
    counted = planned_counts(cfg, spec) if spec else None
    params = counted["params"] if counted else stored_params(cfg)
    positions = training_positions(cfg, stage) if trains else 0
    return Need(
        Path(cfg["paths"]["store"]),
        model_artifact_bytes(params, trains=trains, positions=positions),
        what,
        "point paths.store at a larger disk",
        transient=rewrite_bytes(params, positions=positions) if trains else 0,
    )


def training_positions(cfg: Mapping[str, Any], stage: str) -> int:
    """An upper bound of the training examples a run of ``stage`` (train, finetune, perdevice) keeps the indices
    of in its resume checkpoint: every clip of the training folds before the index exists
    (asc.pipeline.stages.index.approx_fold_clips), times the patches of a clip where it trains on patches."""
    from asc.pipeline.stages.index import approx_fold_clips
    from asc.training.patch_examples import per_example_clip

    per_clip = per_example_clip(cfg.get(stage) or {}, cfg["model"], cfg["features"])
    return approx_fold_clips(cfg) * per_clip


def stored_params(cfg: Mapping[str, Any]) -> int:
    """Values a checkpoint of the job's baseline network holds (parameters and buffers): by its family's formula
    where it has one (:func:`planned_counts`: the DCASE family, VGGish_Net; torch-free); any other network built
    as configured (its widths, blocks, classes) on torch's meta device, so nothing is allocated, and counted
    (imports torch; cached per model config). A network that cannot be built so counts :data:`UNKNOWN_PARAMS`
    (logged)."""
    counted = planned_counts(cfg)
    if counted:
        return counted["params"]
    try:
        model = planned_network(cfg["model"])
    except Exception as err:  # noqa: BLE001 - an estimate only: the disk check goes on with a stated size
        log.warning(
            "the disk estimate cannot count model=%s (%s): %d parameters assumed",
            cfg["model"]["name"],
            err,
            UNKNOWN_PARAMS,
        )
        return UNKNOWN_PARAMS
    return sum(t.numel() for t in model.state_dict().values())


def planned_network(model_cfg: Mapping[str, Any]) -> Any:
    """The network a ``model`` config builds, on torch's meta device where it can be (no memory, nothing computed),
    else on the CPU; cached per config (the disk estimate and the ETA's MACs share it). Raises what the
    constructor raises (imports torch)."""
    return _planned(_frozen(model_cfg))


@functools.lru_cache(maxsize=4)
def _planned(frozen: tuple) -> Any:
    import torch

    from asc.nets import build

    failure: Exception | None = None
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                return build(_thaw(frozen))
        except Exception as err:  # noqa: BLE001 - e.g. a custom factory that computes on its weights
            failure = err
    assert failure is not None
    raise failure


def pruned_spec(spec: Mapping[str, Any], pcfg: Mapping[str, Any]) -> dict[str, Any]:
    """A DCASE-family ``spec`` with the widths the criterion config ``pcfg`` (a prune step's config) keeps where
    they are known before pruning: a ratio's counts (:func:`asc.prune.blocks.kept_count`, a schedule's last step
    keeps the one-shot count) and given indices; a criterion that decides its own count keeps the width (an upper
    bound, also for the last step of its iterative schedule, asc/prune/schedule.py)."""
    from asc.prune.blocks import KEY, OWN_COUNT, kept_count

    widths = [int(w) for w in spec.get("widths") or []]
    per_layer = pcfg.get("per_layer_ratio") or {}
    layers = [pcfg["layers"]] if isinstance(pcfg.get("layers"), str) else list(pcfg.get("layers") or [])
    for layer in layers:
        i = int(layer[1:]) - 1 if layer[:1] == "C" and layer[1:].isdigit() else -1
        if not 0 <= i < len(widths):
            continue
        kept = (pcfg.get("kept") or {}).get(layer) if pcfg.get("name") == "given" else None
        ratio = per_layer.get(layer, pcfg.get("ratio"))
        if isinstance(kept, list) and kept:
            widths[i] = min(widths[i], len(kept))
        elif pcfg.get("name") not in OWN_COUNT and ratio is not None and 0 <= float(ratio) < 1:
            widths[i] = kept_count(widths[i], ratio, pcfg.get(KEY))
    return {**spec, "widths": widths} if widths else dict(spec)


def pruned_need(cfg: Mapping[str, Any], step: Step, spec: Mapping[str, Any] | None = None) -> Need:
    """The disk of prune ``step``'s artifact: the model at its pruned widths (:func:`pruned_spec` of ``spec``,
    default :func:`baseline_spec`, as the fine-tune estimate), by :func:`model_need` (a network without a formula
    at its configured size, an upper bound); a schedule's step at the unpruned widths (an upper bound: its counts
    shrink step by step, and one that fine-tunes first keeps checkpoints of the previous step's wider network)."""
    from asc.nets import family_of
    from asc.pipeline.step import schedule_finetune

    if spec is None:  # a family without a formula is counted as configured: no spec to prune
        spec = baseline_spec(cfg) if family_of(cfg["model"]).counts else {}
    at = spec if "schedule" in step.config else pruned_spec(spec, step.config)
    return model_need(cfg, at, "pruned models", trains=schedule_finetune(step) is not None)
