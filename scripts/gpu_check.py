"""One prepared GPU check: speed of every GPU path against the physical bound, the CUDA tests and a real CLI slice.

    PYTHONPATH=. python scripts/gpu_check.py [--out DIR] [--rehearse] [--budget-s S] [--sections a,b,...]

(scripts/gpu_check.sh sets PYTHONPATH to the checkout, so that ``asc`` is this checkout's without installing it.)

Sections, cheapest and most important first (each is skipped once the budget is nearly spent, and the JSON
(gpu_check.json) and Markdown (gpu_check.md) under ``--out`` are rewritten after every section, so a run cut off
by a timeout still returns what it measured):

1. ``env``       device, driver, torch, CUDA; the bounds the figures are compared with.
2. ``baseline``  the baseline recipe at M = 1 through ``train_many`` on data of the full stand-in's size
                 (asc.data.standin: 13,962 fold1_train clips, 30 % held out for selection), eager vs CUDA
                 graphs (fp32, and bf16 with graphs): examples/s, the projected 200-epoch time.
3. ``fused``     fused training steps, aggregate examples/s at M = 1, 8, 32, 128 in fp32, tf32 and bf16
                 (formulation=auto, the default), and the speed-up over one by one (M = 1, the same code).
4. ``forms``     the exact formulations of the fused convolution side by side (asc.training.fused_conv) and what
                 ``formulation=auto`` picks.
5. ``projection`` the whole ``experiment=paper`` grid projected from the measured rates.
6. ``tests``     the CUDA tests (pytest -m cuda) of the trainer, the latency and the resume.
7. ``cli``       a real slice of ``experiment=paper`` through ``python -m asc`` on the stand-in, on the device.
8. ``compile``   the M = 1 fused step through torch.compile (inductor): compile time and rate; in a child process
                 killed after 75 s (a first try on an H200 compiled for over 2 minutes inside train_many).
9. ``clitest``   the CUDA test of the CLI (tests/test_cli.py: the demo dataset's audio, librosa, up to pruning).
10. ``compile_ro`` the same with mode="reduce-overhead" (inductor + CUDA graphs).

Bounds: one training example of the DCASE21 network costs 3 × 2 × MACs (forward; backward twice the forward)
≈ 1.72 GFLOP; an H100/H200 gives ~67 TFLOP/s in strict fp32, ~495 in tf32 and ~990 in bf16 (dense, datasheet).
Goals are printed beside the figures, never asserted. ``--rehearse`` runs every section on the CPU at tiny sizes
(the graphs emulated, the tests collected only) so that the command is known to work before a GPU is lent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from gpu_check_common import FULL, REHEARSE, SECTIONS  # siblings: scripts/ is sys.path[0] when this runs
from gpu_check_jobs import sec_cli, sec_env, sec_projection, sec_tests
from gpu_check_speed import sec_baseline, sec_compile, sec_forms, sec_fused

from asc.core.errors import InputError
from asc.core.outputs import check_folder_outputs


class Report:
    """The JSON and Markdown under ``out``, rewritten whole after every section (atomic renames)."""

    def __init__(self, out: Path, rehearse: bool):
        self.out, self.rehearse = out, rehearse
        self.data: dict[str, Any] = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "rehearsal": rehearse,
            "sections": {},
        }
        self.md: dict[str, str] = {}
        out.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, result: dict[str, Any], md: str) -> None:
        self.data["sections"][name] = result
        self.md[name] = md
        self.write()

    def write(self) -> None:
        head = (
            f"# GPU check ({'CPU rehearsal, tiny sizes' if self.rehearse else 'full'}), {self.data['date']}\n"
        )
        text = head + "".join(f"\n## {k}\n\n{v}\n" for k, v in self.md.items())
        for name, body in (
            ("gpu_check.json", json.dumps(self.data, indent=1, default=str)),
            ("gpu_check.md", text),
        ):
            tmp = self.out / f".{name}.tmp"
            tmp.write_text(body)
            tmp.replace(self.out / name)


# ---------------------------------------------------------------------------------------------- sections


RUNNERS: dict[str, tuple[Callable, float]] = {  # name → (function, seconds it needs at least, full size)
    "env": (sec_env, 1),
    "baseline": (sec_baseline, 30),
    "fused": (sec_fused, 30),
    "forms": (sec_forms, 20),
    "projection": (sec_projection, 1),
    "tests": (sec_tests, 40),
    "cli": (sec_cli, 40),
    "compile": (sec_compile, 40),
    "compile_ro": (lambda ctx: sec_compile(ctx, "reduce-overhead"), 40),
    "clitest": (lambda ctx: sec_tests(ctx, ("cli",)), 40),
}


ISOLATED = {
    "compile": 75.0,
    "compile_ro": 75.0,
}  # sections that run in a child process, killed after this many seconds at most


def isolated(name: str, args: argparse.Namespace, timeout: float) -> tuple[dict[str, Any], str]:
    """Run one section in a child process (a compiler that hangs or runs long cannot take the rest down)."""
    with tempfile.TemporaryDirectory(prefix="asc-gpu-check-child-") as tmp:
        cmd = [sys.executable, __file__, "--child", "--sections", name, "--out", tmp]
        cmd += ["--rehearse"] if args.rehearse else []
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            tail = (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}, f"timed out after {timeout:.0f} s (killed)"
        path = Path(tmp) / "gpu_check.json"
        if not path.is_file() or name not in json.loads(path.read_text())["sections"]:
            return {
                "error": f"child exited {proc.returncode}: {tail}"
            }, f"FAILED (child rc {proc.returncode})"
        md = (Path(tmp) / "gpu_check.md").read_text().split(f"## {name}\n\n", 1)[-1]
        return json.loads(path.read_text())["sections"][name], md


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"))
    parser.add_argument("--rehearse", action="store_true", help="CPU, tiny sizes: proves the script runs")
    parser.add_argument(
        "--budget-s", type=float, default=300.0, help="skip sections once this is nearly spent"
    )
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    parser.add_argument(
        "--child", action="store_true", help=argparse.SUPPRESS
    )  # an isolated section's process
    parser.add_argument("--force", action="store_true", help="replace an earlier check's files in --out")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sections.split(",") if n.strip()]
    if bad := sorted(set(names) - set(SECTIONS)):
        parser.error(f"unknown section(s) {bad}; choose from {','.join(SECTIONS)}")
    try:  # an earlier check's figures in --out are not ours to replace
        check_folder_outputs(args.out, ("gpu_check.json", "gpu_check.md"), force=args.force)
    except InputError as err:
        parser.error(str(err))
    if not args.rehearse and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or --rehearse for the CPU rehearsal")
    device = torch.device("cpu" if args.rehearse else "cuda")
    if args.rehearse:  # tiny ops: OpenMP barriers of 2+ threads on a shared CPU would cost more than the work
        torch.set_num_threads(1)
    ctx: dict[str, Any] = {
        "s": REHEARSE if args.rehearse else FULL,
        "device": device,
        "rehearse": args.rehearse,
    }
    report = Report(args.out, args.rehearse)
    t0 = time.perf_counter()
    for name in SECTIONS:
        if name not in names:
            continue
        fn, need = RUNNERS[name]
        left = args.budget_s - (time.perf_counter() - t0)
        if not args.rehearse and left < need:
            report.add(
                name, {"skipped": f"{left:.0f} s of the budget left, needs ~{need:g}"}, "skipped: budget"
            )
            continue
        start = time.perf_counter()
        print(f"== {name} ({left:.0f} s of the budget left)", flush=True)
        ctx["left_s"] = left
        try:
            if name in ISOLATED and not args.child:
                result, md = isolated(name, args, timeout=max(10.0, min(ISOLATED[name], left - 15)))
            else:
                result, md = fn(ctx)
        except Exception as err:  # one broken section must not cost the others' figures
            import traceback

            result, md = {"error": traceback.format_exc()}, f"FAILED: {type(err).__name__}: {err}"
        result = (
            {**result, "section_seconds": time.perf_counter() - start} if isinstance(result, dict) else result
        )
        report.add(name, result, md)
        print(md, flush=True)
    print(
        f"\nwritten: {args.out / 'gpu_check.json'}, {args.out / 'gpu_check.md'} ({time.perf_counter() - t0:.0f} s)"
    )
    failed = [k for k, v in report.data["sections"].items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
