"""ONNX export of any stored model (our checkpoints or a Keras .h5), and the ``asc-export`` command.

Needs the optional ``export`` dependencies (``pip install -e ".[export]"``: onnx, onnxruntime, onnxscript).
Two exporters: torch's dynamo exporter (the default since torch 2.9; needs onnxscript) and the older TorchScript
one, which is deprecated but exports this network in a fraction of the time and needs only ``onnx``; ``auto``
takes dynamo when onnxscript is installed. Both give the same graph semantics (checked against onnxruntime).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asc.atomic import atomic_path

INPUT, OUTPUT = "mel", "logits"
EXPORTERS = ("auto", "dynamo", "torchscript")
INSTALL_HINT = 'install the export extras: pip install -e ".[export]"'


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"ONNX export needs the `{module}` package; {INSTALL_HINT}")


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int = 18,
    dynamic_batch: bool = True,
    exporter: str = "auto",
) -> Path:
    """Write ``model`` (eval mode, input ``mel`` of shape (batch, 1, mel, frames), output ``logits``) to ``path``
    atomically; with ``dynamic_batch`` the batch axis is symbolic. Returns ``path``."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r}; valid: {', '.join(EXPORTERS)}")
    _require("onnx")
    if exporter == "auto":
        exporter = "dynamo" if importlib.util.find_spec("onnxscript") else "torchscript"
    if exporter == "dynamo":
        _require("onnxscript")
    path = Path(path)
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    # Batch 2, not 1: an example batch of 1 lets the exporter specialise the batch axis to a constant.
    example = torch.zeros(2, 1, *model.spec["input_shape"], dtype=param.dtype, device=param.device)
    names = {"input_names": [INPUT], "output_names": [OUTPUT], "opset_version": opset}
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
            if exporter == "dynamo":
                shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
                program = torch.onnx.export(
                    model, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False, **names
                )
                program.save(tmp, external_data=False)
            else:
                axes = {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(model, (example,), tmp, dynamo=False, dynamic_axes=axes, **names)
    finally:
        model.train(was_training)
    return path


def onnx_session(path: str | Path, *, threads: int | None = None):
    """An onnxruntime CPU session for ``path`` (``threads`` intra-op threads; default: torch's thread count)."""
    _require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def max_onnx_difference(model: nn.Module, path: str | Path, *, batch: int = 3, seed: int = 0) -> float:
    """Largest |onnxruntime − PyTorch| logit difference on random input of ``batch`` clips (CPU, float32)."""
    shape = (batch, 1, *model.spec["input_shape"])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    ours = copy.deepcopy(model).cpu().float().eval()(x).numpy()  # a copy: the caller's device/mode stay
    theirs = onnx_session(path).run([OUTPUT], {INPUT: x.numpy()})[0]
    return float(np.abs(ours - theirs).max())


def main(argv: list[str] | None = None) -> int:
    """``asc-export MODEL.pt|MODEL.h5 OUT.onnx``: export a stored model and check it with onnxruntime."""
    from asc.model_file import read_model_file

    parser = argparse.ArgumentParser(prog="asc-export", description=main.__doc__)
    parser.add_argument("model", type=Path, help="our checkpoint (model.pt) or a Keras 2.x .h5 model")
    parser.add_argument("out", type=Path, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--static-batch", action="store_true", help="fix the batch axis at 2")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto")
    parser.add_argument("--atol", type=float, default=1e-4, help="allowed onnxruntime vs PyTorch difference")
    args = parser.parse_args(argv)
    try:
        model, _ = read_model_file(args.model)
        export_onnx(
            model, args.out, opset=args.opset, dynamic_batch=not args.static_batch, exporter=args.exporter
        )
    except (OSError, ValueError, ModuleNotFoundError) as err:
        print(f"asc-export: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out} (widths {model.spec['widths']}, input {INPUT} (batch, 1, "
        f"{', '.join(map(str, model.spec['input_shape']))}), output {OUTPUT})"
    )
    if importlib.util.find_spec("onnxruntime") is None:
        print(f"onnxruntime is not installed: output not checked ({INSTALL_HINT})")
        return 0
    diff = max_onnx_difference(model, args.out)
    print(f"onnxruntime vs PyTorch: max |difference| {diff:.2e} (allowed {args.atol:g})")
    return 0 if diff <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
