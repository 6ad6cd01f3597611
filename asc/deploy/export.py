"""ONNX export of any stored model (our checkpoints or a Keras .h5), and the ``asc-export`` command.

Needs the optional ``export`` dependencies (``pip install -e ".[export]"``: onnx, onnxruntime, onnxscript).
Two exporters: torch's dynamo exporter (the default since torch 2.9; needs onnxscript; opset 18 and up) and the
older TorchScript one, which is deprecated but exports this network in a fraction of the time, needs only ``onnx``
and writes opsets 7-20. ``auto`` takes dynamo for opset ≥ 18 when onnxscript is installed, TorchScript otherwise,
and falls back to the other when the first cannot write the requested opset. Both give the same graph semantics
(checked against onnxruntime); the written file's opset is checked against the request.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asc.core.atomic import atomic_path

INPUT, OUTPUT = "mel", "logits"
EXPORTERS = ("auto", "dynamo", "torchscript")
INSTALL_HINT = 'install the export extras: pip install -e ".[export]"'


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"ONNX export needs the `{module}` package; {INSTALL_HINT}")


# torch's dynamo exporter has operator implementations from opset 18 up; for a lower opset it converts its
# opset-18 graph down with onnx's version converter, which may fail (this network: 17 converts, 13 does not) and
# then keeps 18 with only a logged warning. The written file's opset is therefore always checked.
DYNAMO_NATIVE_OPSET = 18
MIN_OPSET = 7  # the oldest opset torch's TorchScript exporter writes
_QUIET = ("torch.onnx", "onnxscript")


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Silence the exporters' warnings and the version converter's logged traceback: the outcome is checked
    (:func:`written_opset`) and reported in one line instead."""
    loggers = [logging.getLogger(name) for name in _QUIET]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def written_opset(path: str | Path) -> int:
    """The default-domain (``ai.onnx``) opset version an .onnx file declares."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _export_with(
    exporter: str, model: nn.Module, tmp: Path, example: torch.Tensor, opset: int, dynamic: bool
):
    names = {"input_names": [INPUT], "output_names": [OUTPUT], "opset_version": opset}
    if exporter == "dynamo":
        shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic else None
        program = torch.onnx.export(
            model, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False, **names
        )
        program.save(tmp, external_data=False)
    else:
        axes = {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}} if dynamic else None
        torch.onnx.export(model, (example,), tmp, dynamo=False, dynamic_axes=axes, **names)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int = 18,
    dynamic_batch: bool = True,
    exporter: str = "auto",
    input_shape: tuple[int, int] | None = None,
) -> Path:
    """Write ``model`` (eval mode, input ``mel`` of shape (batch, 1, mel, frames), output ``logits``) to ``path``
    atomically, in exactly ONNX opset ``opset``; with ``dynamic_batch`` the batch axis is symbolic.

    ``exporter``: ``dynamo``, ``torchscript`` or ``auto`` (dynamo for opset ≥ 18 when onnxscript is installed,
    else TorchScript, which writes opsets up to 20 natively; the other one is tried when the first cannot write
    the requested opset). Returns ``path``, which holds the requested opset; otherwise nothing is written and a
    ValueError names the opset, what each exporter did and the fix. ``input_shape`` (mel bands, frames): the
    network's input; default ``model.spec["input_shape"]`` (the DCASE21/22 family; zoo networks: pass
    ``asc.nets.input_shape_of(spec, features)``).
    """
    candidates = _exporters_for(exporter, opset, path)
    path = Path(path)
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    # Batch 2, not 1: an example batch of 1 lets the exporter specialise the batch axis to a constant.
    shape = input_shape or model.spec["input_shape"]
    example = torch.zeros(2, 1, *shape, dtype=param.dtype, device=param.device)
    tried = []
    try:
        for name in candidates:
            try:
                with atomic_path(path) as tmp, _quiet_exporters():
                    _export_with(name, model, tmp, example, opset, dynamic_batch)
                    got = written_opset(tmp)
                    if got != opset:
                        raise _WrongOpset(f"the {name} exporter wrote opset {got}")
                return path
            except _WrongOpset as err:
                tried.append(str(err))
            except Exception as err:  # noqa: BLE001  (an exporter's refusal, reported in the one line below)
                tried.append(f"the {name} exporter failed ({str(err).splitlines()[0][:160]})")
    finally:
        model.train(was_training)
    other = "" if exporter == "auto" else "; --exporter auto tries both"
    raise ValueError(
        f"cannot write {path} in ONNX opset {opset}: {'; '.join(tried)}; nothing was written. Choose another "
        f"--opset (TorchScript writes 7-20, dynamo {DYNAMO_NATIVE_OPSET} and up){other}"
    )


def _exporters_for(exporter: str, opset: int, path: str | Path) -> list[str]:
    """The exporters to try, in order, for ``exporter`` (auto: dynamo first from opset 18 when onnxscript is
    installed); ValueError for an unknown exporter or an opset no exporter writes here (nothing written)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r}; valid: {', '.join(EXPORTERS)}")
    _require("onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    # outside what any exporter writes: refuse before one prints its graph
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"cannot write {path} in ONNX opset {opset}: opsets {MIN_OPSET}-{newest} can be written here "
            f"(TorchScript {MIN_OPSET}-20, dynamo {DYNAMO_NATIVE_OPSET}-{newest}); nothing was written"
        )
    if exporter == "auto":
        dynamo = importlib.util.find_spec("onnxscript") is not None
        order = ["dynamo", "torchscript"] if opset >= DYNAMO_NATIVE_OPSET else ["torchscript", "dynamo"]
        return [e for e in order if dynamo or e == "torchscript"]
    if exporter == "dynamo":
        _require("onnxscript")
    return [exporter]


class _WrongOpset(Exception):
    pass


def onnx_session(path: str | Path, *, threads: int | None = None, spin: bool = True):
    """An onnxruntime CPU session for ``path`` (``threads`` intra-op threads; default: torch's thread count).
    ``spin=False``: idle intra-op threads block instead of spinning (``session.intra_op.allow_spinning=0``), for
    throughput work: the same outputs bit for bit, and on busy cores (other processes running) no waiting for
    descheduled spinners (int8 file, 300 clips, 2 threads on 2 loaded cores: ~1.4x faster wall, ~1.8x less CPU);
    latency timing keeps onnxruntime's spinning default."""
    _require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def max_onnx_difference(
    model: nn.Module,
    path: str | Path,
    *,
    batch: int = 3,
    seed: int = 0,
    input_shape: tuple[int, int] | None = None,
) -> float:
    """Largest |onnxruntime − PyTorch| logit difference on random input of ``batch`` clips (CPU, float32);
    ``input_shape`` as for :func:`export_onnx`."""
    shape = (batch, 1, *(input_shape or model.spec["input_shape"]))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    ours = copy.deepcopy(model).cpu().float().eval()(x).numpy()  # a copy: the caller's device/mode stay
    theirs = onnx_session(path).run([OUTPUT], {INPUT: x.numpy()})[0]
    return float(np.abs(ours - theirs).max())


def _read(path: Path, reader) -> tuple[nn.Module, dict]:
    """The model of a user's file, or one ValueError line naming it (a folder, garbage, a bare state_dict)."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the model file in it (e.g. {path / 'model.pt'})")
    try:
        return reader(path)
    except (OSError, ValueError):
        raise
    except Exception as err:  # noqa: BLE001 - torch.load and h5py raise many types for a file that is not a model
        why = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} cannot be read as a model ({why})") from None


def main(argv: list[str] | None = None) -> int:
    """``asc-export MODEL.pt|MODEL.h5 OUT.onnx``: export a stored model and check it with onnxruntime."""
    from asc.nets.model_file import read_model_file

    parser = argparse.ArgumentParser(prog="asc-export", description=main.__doc__)
    parser.add_argument("model", type=Path, help="our checkpoint (model.pt) or a Keras 2.x .h5 model")
    parser.add_argument("out", type=Path, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset the file must have (default 18)")
    parser.add_argument("--static-batch", action="store_true", help="fix the batch axis at 2")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto")
    parser.add_argument("--atol", type=float, default=1e-4, help="allowed onnxruntime vs PyTorch difference")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists (never the input)")
    args = parser.parse_args(argv)
    from asc.core.checks import require_finite
    from asc.core.outputs import check_output

    try:
        check_output(args.out, inputs=[args.model], force=args.force)  # before anything is read or written
        model, extra = _read(args.model, read_model_file)
        require_finite(f"{args.model}: weights", model.state_dict())  # an ONNX file of NaNs helps no one
        shape, what = input_of(model, extra)
        export_onnx(
            model,
            args.out,
            opset=args.opset,
            dynamic_batch=not args.static_batch,
            exporter=args.exporter,
            input_shape=shape,
        )
    except (OSError, ValueError, ModuleNotFoundError) as err:
        print(f"asc-export: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out} (ONNX opset {written_opset(args.out)}, {what}, input {INPUT} (batch, 1, "
        f"{', '.join(map(str, shape))}), output {OUTPUT})"
    )
    if importlib.util.find_spec("onnxruntime") is None:
        print(f"onnxruntime is not installed: output not checked ({INSTALL_HINT})")
        return 0
    batches = (2,) if args.static_batch else (1, 3)  # batch 1 too: a branch frozen by the trace shows there
    diff = max(max_onnx_difference(model, args.out, batch=b, input_shape=shape) for b in batches)
    print(
        f"onnxruntime vs PyTorch at batch {' and '.join(map(str, batches))}: max |difference| {diff:.2e} "
        f"(allowed {args.atol:g})"
    )
    return 0 if diff <= args.atol else 1


def input_of(model: nn.Module, extra: dict) -> tuple[tuple[int, int], str]:
    """(input (mel bands, frames), a description) of a model read by read_model_file: a DCASE21/22-family
    model's spec; a zoo or custom network's front end (:func:`asc.nets.families.front_end_input_shape`)."""
    if hasattr(model, "spec"):
        return tuple(model.spec["input_shape"]), f"widths {model.spec['widths']}"
    from asc.nets.families import front_end_input_shape

    spec = extra["spec"]
    pruned = " (pruned: its history replayed)" if extra.get("history") else ""
    return front_end_input_shape(spec), f"model={spec['name']}{pruned}"


if __name__ == "__main__":
    sys.exit(main())
