"""Accuracy at deployment precision: a stored model written as ONNX files at fp32, fp16 and int8 and each file
evaluated with onnxruntime on the evaluation split.

DCASE counts a model's parameter bytes at the precision it is stored in (asc/report/rules.py): a network that fits
128 kB only at int8 has to be judged by its int8 accuracy. The files:

- ``model_fp32.onnx``: :func:`asc.deploy.export.export_onnx` of the eval-mode model (BN not yet folded).
- ``model_fp16.onnx``: every float initialiser and operator in float16, input and output kept float32
  (``onnxruntime.transformers.float16.convert_float_to_float16``, ``keep_io_types=True``), so the clip goes in
  and the logits come out as at fp32.
- ``model_int8.onnx``: post-training static quantisation (``onnxruntime.quantization.quantize_static``) after
  ONNX Runtime's pre-processing (shape inference and graph optimisation, which folds each BN into its
  convolution), QDQ format, int8 weights and activations (S8S8, the format ONNX Runtime's documentation
  recommends for QDQ on CPU), weights per output channel by default, activation ranges calibrated on
  ``calibration_clips`` clips drawn with ``calibration_seed`` from the training fold (never the evaluation split).

Why ONNX Runtime's quantiser and not torchao: torchao's int8 paths target CUDA kernels (and its CPU paths change
between releases), while onnxruntime is already the project's optional ``[export]`` dependency, runs the
quantised graph on any CPU, and the int8 file it writes is the deployable artefact itself, so the accuracy
reported is that of the file whose bytes are reported (``onnx_bytes_<precision>``, the file's size on disk).

onnxruntime is optional: with ``quantise.enabled=auto`` a job without it logs one line and skips these columns;
``quantise.enabled=true`` refuses at planning with the extra to install.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError

PRECISIONS = ("fp32", "fp16", "int8")  # the files written; fp32 is the export the others are made from
ENABLED = ("auto", True, False)
CALIBRATE_METHODS = {
    "minmax": "MinMax",
    "entropy": "Entropy",
    "percentile": "Percentile",
}  # onnxruntime's names
NEEDS = ("onnx", "onnxruntime")
INSTALL_HINT = 'pip install -e ".[export]"'


def missing_packages() -> list[str]:
    """The packages of :data:`NEEDS` that are not installed (found without importing them)."""
    return [m for m in NEEDS if importlib.util.find_spec(m) is None]


def wanted(q: Mapping[str, Any]) -> bool:
    """Whether the job evaluates at deployment precision: ``enabled`` true (the packages are then required),
    false, or auto (when they are installed). Raises ConfigError for an invalid value, or for ``true`` without
    the packages (naming the extra to install)."""
    enabled = q["enabled"]
    if enabled not in ENABLED or isinstance(enabled, int) and not isinstance(enabled, bool):
        raise ConfigError(f"quantise.enabled={enabled!r} is not valid: expected auto, true or false")
    missing = missing_packages()
    if enabled is True and missing:
        raise ConfigError(
            f"quantise.enabled=true needs {', '.join(missing)} (not installed): {INSTALL_HINT}, "
            "or set quantise.enabled=auto to skip the fp16/int8 columns"
        )
    return bool(enabled) and not missing


def keyed(q: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change the files and their accuracies (the key of a quantise artifact); checked."""
    method = q["calibrate_method"]
    if method not in CALIBRATE_METHODS:
        raise ConfigError(
            f"quantise.calibrate_method={method!r} is not valid: expected one of {', '.join(CALIBRATE_METHODS)}"
        )
    clips = q["calibration_clips"]
    if not isinstance(clips, int) or isinstance(clips, bool) or clips < 1:
        raise ConfigError(f"quantise.calibration_clips={clips!r} must be a positive whole number of clips")
    return {
        "precisions": list(PRECISIONS),
        "opset": int(q["opset"]),
        "exporter": str(q["exporter"]),
        "calibration_clips": clips,
        "calibration_seed": int(q["calibration_seed"]),
        "calibrate_method": method,
        "per_channel": bool(q["per_channel"]),
        "format": "QDQ S8S8",
    }


def calibration_positions(n_pool: int, clips: int, seed: int) -> Any:
    """Positions (sorted) of ``min(clips, n_pool)`` training clips drawn without replacement with ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_pool, size=min(clips, n_pool), replace=False))


def write_files(
    model: Any,
    work: Path,
    calibration: Any,
    settings: Mapping[str, Any],
    input_shape: tuple[int, int] | None = None,
) -> dict[str, Path]:
    """Write ``model_{fp32,fp16,int8}.onnx`` of ``model`` (a DCASE-family BaselineCNN or any zoo network) into
    ``work``; ``calibration``: float32 array (N, n_mels, frames) of training clips for the int8 activation
    ranges; ``settings``: :func:`keyed`; ``input_shape`` (mel bands, frames): a zoo network's input
    (:func:`asc.nets.input_shape_of`), None for the DCASE family (its ``spec``). Returns the paths by precision."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from asc.core.atomic import atomic_path
    from asc.deploy.export import export_onnx

    paths = {p: work / f"model_{p}.onnx" for p in PRECISIONS}
    export_onnx(
        model, paths["fp32"], opset=settings["opset"], exporter=settings["exporter"], input_shape=input_shape
    )
    half = convert_float_to_float16(onnx.load(str(paths["fp32"])), keep_io_types=True)
    with atomic_path(paths["fp16"]) as tmp:
        onnx.save(half, str(tmp))
    _write_int8(paths["fp32"], paths["int8"], work / "prepared.onnx", calibration, settings)
    return paths


def _write_int8(
    fp32: Path, int8: Path, prepared: Path, calibration: Any, settings: Mapping[str, Any]
) -> None:
    """Statically quantise the ONNX file ``fp32`` to ``int8`` (QDQ, int8 activations and weights), its
    activation ranges calibrated on ``calibration`` in batches of 32 (onnxruntime's INFO lines silenced)."""
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from asc.core.atomic import atomic_path
    from asc.deploy.export import INPUT

    batches = [calibration[i : i + 32, None].astype(np.float32) for i in range(0, len(calibration), 32)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: batch}

    quiet = logging.getLogger("onnxruntime")  # its INFO lines per graph pass are noise in the job's log
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        quant_pre_process(str(fp32), str(prepared))
        with atomic_path(int8) as tmp:
            quantize_static(
                str(prepared),
                str(tmp),
                Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=settings["per_channel"],
                calibrate_method=getattr(CalibrationMethod, CALIBRATE_METHODS[settings["calibrate_method"]]),
            )
    finally:
        prepared.unlink(missing_ok=True)
        quiet.setLevel(level)


def onnx_probabilities(
    path: Path, x: Any, *, batch_size: int = 64, threads: int | None = None, multi_label: bool = False
) -> Any:
    """Class probabilities (N, classes), float64, of the ONNX file ``path`` on ``x`` (N, n_mels, frames) with
    onnxruntime's CPU provider: softmax of the file's logits, or a sigmoid per class when ``multi_label``
    (tagging, as :func:`asc.training.evaluate.predict`)."""
    import numpy as np

    from asc.deploy.export import INPUT, OUTPUT, onnx_session

    session = onnx_session(path, threads=threads, spin=False)  # throughput, not latency: no spinning
    x = np.asarray(x, dtype=np.float32)
    logits = [
        session.run([OUTPUT], {INPUT: x[i : i + batch_size, None]})[0] for i in range(0, len(x), batch_size)
    ]
    if not logits:
        return np.zeros((0, 0))
    z = np.concatenate(logits).astype(np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-z))
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def columns(
    paths: Mapping[str, Path],
    scores: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str] = ("accuracy", "class_avg_accuracy", "log_loss"),
) -> dict[str, Any]:
    """The results row's columns: ``<metric>_<p>`` of each precision's file for each of ``metrics`` (the
    task's columns, :attr:`asc.data.tasks.Task.columns`: accuracy, class_avg_accuracy and log_loss of a scenes task;
    mAP, auc and d_prime of a tagging task), fp32 too (the ONNX file, which should match the row's PyTorch
    figure), and ``onnx_bytes_<p>``, the file's size in bytes."""
    out: dict[str, Any] = {}
    for p in PRECISIONS:
        out |= {f"{k}_{p}": scores[p][k] for k in metrics}
        out[f"onnx_bytes_{p}"] = paths[p].stat().st_size
    return out


def accuracy_at_bits(row: Mapping[str, Any], bits: Any, fp32: str = "accuracy") -> Any:
    """The accuracy of a row at the precision of ``bits`` (32: the row's ``fp32`` column; 16: accuracy_fp16; 8:
    accuracy_int8); NaN when the row lacks that column or nothing fits (0 bits)."""
    import math

    column = {32: fp32, 16: "accuracy_fp16", 8: "accuracy_int8"}.get(_bits(bits))
    value = row.get(column) if column else None
    return math.nan if value is None else value


def _bits(bits: Any) -> int:
    try:
        return int(float(bits))
    except (TypeError, ValueError):
        return 0


def precision_columns(names: Sequence[str]) -> list[str]:
    """The accuracy columns at deployment precision among ``names`` (a results table's columns)."""
    return [c for c in names if c in {f"accuracy_{p}" for p in PRECISIONS}]


FIT_COLUMNS = {
    "dcase_fit_bits": "accuracy_deployed",
    "d22_fit_bits": "accuracy_deployed_d22",
}  # rule -> column


def deployed_accuracy(rows: Any) -> dict[str, float]:
    """Mean accuracy in % of results ``rows`` (a DataFrame) at the precision each DCASE rule lets them be stored
    in (``dcase_fit_bits``, 2021: ``accuracy_deployed``; ``d22_fit_bits``, 2022-2025: ``accuracy_deployed_d22``):
    fp32 rows their accuracy, fp16 and int8 rows their ONNX file's; and ``accuracy_{fp16,int8}_pct``, the mean
    accuracy of each file. Empty when the rows have no precision
    columns (a job without onnxruntime); NaN where no row has the accuracy it needs."""
    import numpy as np

    present = precision_columns(list(rows.columns))
    if not present:
        return {}
    out = {f"{c}_pct": float(rows[c].mean() * 100) for c in present if c != "accuracy_fp32"}
    for fit, name in FIT_COLUMNS.items():
        if fit in rows and rows[fit].notna().any():
            values = np.array([accuracy_at_bits(r, r[fit]) for r in rows.to_dict("records")], dtype=float)
            out[name] = float(np.nanmean(values) * 100) if np.isfinite(values).any() else float("nan")
    return out
