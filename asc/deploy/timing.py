"""Timing given model files side by side: the ``asc-time`` command.

``asc-time A.pt B.h5 C.onnx`` loads each file (an asc ``model.pt`` or a Keras 2.x ``.h5`` runs on PyTorch, on
the CPU or with ``--device cuda``; an ``.onnx`` file on onnxruntime's CPU provider, needing the ``[export]``
extra) and times them *interleaved*, as the report does (:func:`asc.deploy.latency.interleaved_times`): every round
times each model once, in an order rotated every round, so a burst of load from other processes hits all of
them alike. Each round's time of a model is ``torch.utils.benchmark.Timer.blocked_autorange`` (calls in blocks
until ``--min-run-time`` has passed; the median time per call), so one round is never a single noisy call. The
table gives, per file, the median, interquartile range and min–max over the rounds in ms per batch, and the
threads the timing ran with (torch's intra-op threads, or onnxruntime's intra-op threads).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from asc.deploy.latency import interleaved_times, machine_label, spread_ms

COLUMNS = ["file", "backend", "batch", "threads", "rounds", "median_ms", "q1_ms", "q3_ms", "min_ms", "max_ms"]


def _onnx_runner(path: Path, batch: int, threads: int) -> tuple[str, Callable[[], Any]]:
    from asc.deploy.export import _require, onnx_session

    _require("onnxruntime")
    session = onnx_session(path, threads=threads)
    (first,) = session.get_inputs()
    shape = [batch, *(int(d) if isinstance(d, int) else 1 for d in first.shape[1:])]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(batch)).numpy()
    return "ort", lambda: session.run(None, {first.name: x})


def _torch_runner(path: Path, batch: int, device: str) -> tuple[str, Callable[[], Any]]:
    from asc.deploy.export import _read, input_of
    from asc.nets.model_file import read_model_file

    model, extra = _read(path, read_model_file)
    model = model.eval().to(device)
    shape, _ = input_of(model, extra)  # a zoo network's from its front end
    x = torch.randn(batch, 1, *shape, generator=torch.Generator().manual_seed(batch))
    x = x.to(device)

    def run() -> Any:
        with torch.inference_mode():
            return model(x)

    return f"torch-{device}", run


def runner(path: Path, *, batch: int, threads: int, device: str = "cpu") -> tuple[str, Callable[[], Any]]:
    """(backend, a call of one forward pass on a fixed random batch) for a model file. Raises ValueError or
    OSError (one line naming the file) for a file that is not a model, ModuleNotFoundError for ONNX without
    onnxruntime."""
    if path.suffix.lower() == ".onnx":
        return _onnx_runner(path, batch, threads)
    return _torch_runner(path, batch, device)


def blocked_autorange(min_run_time: float, threads: int) -> Callable[[Callable[[], Any]], float]:
    """A round's timer: ``torch.utils.benchmark.Timer(...).blocked_autorange`` of the call, seconds per call
    (the median of its blocks). It synchronises CUDA itself."""
    from torch.utils import benchmark

    def time_one(run: Callable[[], Any]) -> float:
        timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=threads)
        return float(timer.blocked_autorange(min_run_time=min_run_time).median)

    return time_one


def time_files(
    paths: Sequence[Path],
    *,
    batch: int = 1,
    rounds: int = 15,
    min_run_time: float = 0.2,
    threads: int | None = None,
    device: str = "cpu",
    warmup: int = 3,
) -> pd.DataFrame:
    """:data:`COLUMNS`, one row per file: the files timed interleaved over ``rounds`` rounds, each round a
    blocked autorange of ``min_run_time`` seconds per file (see the module)."""
    threads = int(threads or torch.get_num_threads())
    torch.set_num_threads(threads)
    loaded = [runner(Path(p), batch=batch, threads=threads, device=device) for p in paths]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = interleaved_times(
        [run for _, run in loaded],
        rounds=rounds,
        warmup=warmup,
        sync=sync,
        timer=blocked_autorange(min_run_time, threads),
    )
    rows = [
        {"file": str(p), "backend": backend, "batch": batch, "threads": threads} | spread_ms(t)
        for p, (backend, _), t in zip(paths, loaded, times, strict=True)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text: median, IQR (q1–q3) and min–max in ms per batch."""
    shown = pd.DataFrame(
        {
            "file": table["file"],
            "backend": table["backend"],
            "batch": table["batch"],
            "threads": table["threads"],
            "rounds": table["rounds"],
            "median (ms)": table["median_ms"].map("{:.3f}".format),
            "IQR (ms)": [f"{a:.3f}–{b:.3f}" for a, b in zip(table["q1_ms"], table["q3_ms"], strict=True)],
            "min–max (ms)": [
                f"{a:.3f}–{b:.3f}" for a, b in zip(table["min_ms"], table["max_ms"], strict=True)
            ],
        }
    )
    return shown.to_string(index=False)


def main(argv: list[str] | None = None) -> int:
    """``asc-time FILE...``: time model files (asc .pt, Keras .h5, .onnx) interleaved, round by round."""
    parser = argparse.ArgumentParser(prog="asc-time", description=main.__doc__)
    parser.add_argument("files", type=Path, nargs="+", help="asc model.pt, Keras 2.x .h5 or .onnx files")
    parser.add_argument("--batch", type=int, default=1, help="clips per forward pass (default 1)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument(
        "--min-run-time", type=float, default=0.2, help="seconds of blocked autorange per file and round"
    )
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="for .pt/.h5 (ONNX: CPU)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    for name, value, low in (
        ("--batch", args.batch, 1),
        ("--rounds", args.rounds, 1),
        ("--threads", args.threads, 1),
    ):
        if value is not None and value < low:
            parser.error(f"{name}={value}: expected an integer >= {low}")
    if not args.min_run_time > 0:
        parser.error(f"--min-run-time={args.min_run_time}: expected seconds > 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    try:
        table = time_files(
            args.files,
            batch=args.batch,
            rounds=args.rounds,
            min_run_time=args.min_run_time,
            threads=args.threads,
            device=args.device,
        )
    except (OSError, ValueError, ModuleNotFoundError) as err:
        print(f"asc-time: {err}", file=sys.stderr)
        return 2
    print(f"{machine_label()}; ms per batch over {args.rounds} interleaved rounds (blocked autorange each)")
    print(format_table(table))
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
