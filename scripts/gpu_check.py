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
4. ``forms``     the exact formulations of the fused convolution side by side (asc.fused_conv) and what
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
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "env",
    "baseline",
    "fused",
    "forms",
    "projection",
    "tests",
    "cli",
    "compile",
    "clitest",
    "compile_ro",
)
PEAK_TFLOPS = {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0}  # H100/H200 SXM datasheet, dense
GOALS = {
    "baseline_200_epochs_min": 2.0,
    "fused_fp32_bound_fraction_m32": 0.5,
    "bf16_examples_per_s": 100_000.0,
    "paper_grid_fp32_min": 60.0,
}
STANDIN_TRAIN, HOLDOUT = 13962, 0.3  # asc.data.standin / conf validation.amount
FULL = {
    "n_train": round(STANDIN_TRAIN * (1 - HOLDOUT)),
    "n_val": round(STANDIN_TRAIN * HOLDOUT),
    "batch": 16,
    "epochs": 3,
    "ms": (1, 8, 32, 128),
    "form_ms": (8, 64),  # the ranking held from 8 to 128 (2026-11-30); 64 keeps grouped's slow steps short
    "precisions": ("fp32", "tf32", "bf16"),
    "min_s": 0.3,
    "min_steps": 3,
    "cli_scale": None,  # asc.data.standin.MIN_SCALE (+ a margin)
    "spec": {},  # the paper's network (asc.model.DEFAULT_SPEC)
    "tests_timeout_s": 100,
    "cli_timeout_s": 120,
}
REHEARSE = {
    **FULL,
    "n_train": 48,
    "n_val": 16,
    "batch": 8,
    "epochs": 2,
    "ms": (1, 2),
    "form_ms": (2,),
    "precisions": ("fp32", "bf16"),
    "min_s": 0.0,
    "min_steps": 1,
    "spec": {"widths": [4, 4, 8], "input_shape": [20, 100], "pools": [None, [5, 5], [4, 20]]},
}


# ---------------------------------------------------------------------------------------------- helpers
def example_gflop() -> float:
    """GFLOP of one training example of the paper's network: 3 (forward + backward) × 2 FLOP per MAC."""
    from asc.complexity import complexity
    from asc.model import build_model

    return 6 * complexity(build_model())["macs"] / 1e9


def bound(precision: str) -> float:
    """Examples/s at the datasheet peak of ``precision``."""
    return PEAK_TFLOPS[precision] * 1e3 / example_gflop()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn: Callable[[], int], device: torch.device, min_s: float, min_steps: int) -> float:
    """Items/s of ``fn`` (returns items done): one warm-up call (cuDNN's choice, allocations), then calls until
    min_s and min_steps."""
    fn()
    sync(device)
    n, calls, start = 0, 0, time.perf_counter()
    while calls < min_steps or time.perf_counter() - start < min_s:
        n += fn()
        calls += 1
    sync(device)
    return n / (time.perf_counter() - start)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


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
def sec_env(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    dev: torch.device = ctx["device"]
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({os.cpu_count()} cores)",
        "example_gflop": example_gflop(),
        "bound_examples_per_s": {p: bound(p) for p in PEAK_TFLOPS},
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(sms=props.multi_processor_count, memory_gib=props.total_memory / 2**30)
        smi = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,clocks.sm,clocks.max.sm",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    rows = [[k, v] for k, v in info.items() if k != "bound_examples_per_s"]
    rows += [[f"bound, {p}", f"{b:,.0f} examples/s"] for p, b in info["bound_examples_per_s"].items()]
    return info, md_table(["what", "value"], rows)


def baseline_data(
    s: dict[str, Any], n_train: int, n_val: int, device: torch.device
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Class-structured random log-mel-sized data (speed does not depend on the values), made on the device."""
    from asc.model import normalise_spec

    shape = normalise_spec(s["spec"])["input_shape"]
    g = torch.Generator(device=device).manual_seed(0)
    out = {}
    for name, n in (("train", n_train), ("val", n_val)):
        y = torch.randint(0, 10, (n,), generator=g, device=device)
        x = torch.randn(n, *shape, generator=g, device=device) + 0.1 * y[:, None, None]
        out[name] = (x, y)
    return out


def train_rate(
    s: dict[str, Any], device: torch.device, data: dict, n_train: int, epochs: int, **options: Any
) -> dict[str, float]:
    """One baseline run (M = 1) through train_many: seconds per epoch after the first (the first pays warm-up,
    capture or compilation) and the training examples/s of those epochs, evaluation included."""
    from asc.model import build_model
    from asc.train import Recipe, Run, train_many

    recipe = Recipe(epochs=epochs, batch_size=s["batch"], lr=1e-3, adam_eps=1e-7, select_after=0)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="asc-gpu-check-") as tmp:
        run = Run(
            build_model(s["spec"]),
            torch.arange(n_train),
            seed=0,
            workdir=Path(tmp),
            recipe=recipe,
            label="m1",
        )
        start = time.perf_counter()
        h = train_many([run], data["train"], data["val"], device=device, progress=False, **options)[0]
        total = time.perf_counter() - start
    rounds = [e["round_seconds"] for e in h["history"]]
    later = rounds[1:] or rounds
    per_epoch = sum(later) / len(later)
    return {
        "first_epoch_s": rounds[0],
        "epoch_s": per_epoch,
        "examples_per_s": n_train / per_epoch,
        "total_s": total,
    }


def sec_baseline(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    s, dev = ctx["s"], ctx["device"]
    data = baseline_data(s, s["n_train"], s["n_val"], dev)
    cases = {
        "eager fp32": {"graphs": False},
        "CUDA graphs fp32": {"graphs": True},
        "CUDA graphs fp32, cudnn.benchmark": {"graphs": True, "cudnn_benchmark": True},
        "CUDA graphs bf16": {"graphs": True, "precision": "bf16"},
    }
    res = {}
    for name, opt in cases.items():
        res[name] = train_rate(s, dev, data, s["n_train"], s["epochs"], **opt)
        ctx["baseline"] = res  # partial
    full_epoch = {k: v["epoch_s"] * FULL["n_train"] / s["n_train"] for k, v in res.items()}
    rows = []
    for name, r in res.items():
        prec = "bf16" if "bf16" in name else "fp32"
        minutes = 200 * full_epoch[name] / 60
        rows.append(
            [
                name,
                f"{r['examples_per_s']:,.0f}",
                pct(r["examples_per_s"] / bound(prec)),
                f"{r['epoch_s']:.2f}",
                f"{minutes:.1f}",
                f"{r['first_epoch_s']:.2f}",
            ]
        )
    best = min(full_epoch, key=full_epoch.get)
    best_min = 200 * full_epoch[best] / 60
    goal = GOALS["baseline_200_epochs_min"]
    out = {
        "cases": res,
        "n_train": s["n_train"],
        "n_val": s["n_val"],
        "projected_200_epochs_min": {k: 200 * v / 60 for k, v in full_epoch.items()},
        "goal_min": goal,
        "best": best,
    }
    ctx["m1_rate"] = {k: v["examples_per_s"] for k, v in res.items()}
    md = md_table(
        [
            "M = 1, batch 16, train_many",
            "examples/s",
            "of bound",
            "s / epoch",
            "200 epochs, min",
            "1st epoch s",
        ],
        rows,
    )
    md += (
        f"\n\nEpochs of {FULL['n_train']:,} training clips (the stand-in's fold1_train minus 30 % held out) with "
        f"selection on {FULL['n_val']:,}, evaluation included. Goal: 200 epochs ≤ {goal:g} min (any precision): "
        f"best {best} {best_min:.1f} min, {verdict(best_min <= goal)}."
    )
    return out, md


def fused_step(
    s: dict[str, Any],
    m: int,
    device: torch.device,
    formulation: str,
    channels_last: bool = True,
    forward_fn: Callable[..., torch.Tensor] | None = None,
) -> Callable[[], int]:
    """One fused Adam step of m baseline networks (FusedStack.train_step, the code train_many runs), input on
    the device: the compute that fusion changes, without data gathering or evaluation."""
    from asc import fused
    from asc.model import build_model

    torch.manual_seed(0)
    nets = [build_model(s["spec"]) for _ in range(m)]
    stack = fused.FusedStack(nets, device, formulation=formulation, channels_last=channels_last)
    batch = s["batch"]
    x = torch.randn(batch, m, *nets[0].spec["input_shape"], device=device)
    y = torch.randint(0, 10, (batch, m), device=device)
    kw = {
        "lr": torch.full((m,), 1e-3, dtype=torch.float64, device=device),
        "eps": torch.full((m,), 1e-7, device=device),
        "seeds": torch.arange(m, device=device),
    }
    sel = list(range(m))

    def run() -> int:
        stack.train_step(sel, x, y, **kw, forward_fn=forward_fn or fused.forward)
        return batch * m

    run.stack = stack
    return run


def measure_fused(
    ctx: dict[str, Any],
    m: int,
    precision: str,
    formulation: str,
    channels_last: bool = True,
    bench: bool = False,
) -> float | str:
    from asc.device import precision_mode

    s, dev = ctx["s"], ctx["device"]
    try:
        with precision_mode(precision, dev, cudnn_benchmark=bench):
            step = fused_step(s, m, dev, formulation, channels_last)
            return rate(step, dev, s["min_s"], s["min_steps"])
    except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        return f"failed: {str(err).splitlines()[0][:120]}"


def sec_fused(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    s = ctx["s"]
    res: dict[str, dict[int, Any]] = {}
    rows = []
    for p in s["precisions"]:
        res[p] = {}
        for m in s["ms"]:
            res[p][m] = measure_fused(ctx, m, p, "auto")
            ctx["fused"] = res
        one = res[p][s["ms"][0]]
        for m, r in res[p].items():
            if isinstance(r, str):
                rows.append([p, m, r, "", "", ""])
                continue
            vs = f"{r / one:.2f}×" if isinstance(one, float) else "-"
            graphed = ctx.get("m1_rate", {}).get(f"CUDA graphs {p}")
            vs_g = f"{r / graphed:.2f}×" if graphed else "-"
            rows.append([p, m, f"{r:,.0f}", pct(r / bound(p)), vs, vs_g])
    fp32 = [r for m, r in res.get("fp32", {}).items() if m >= 32 and isinstance(r, float)]
    bf16 = [r for r in res.get("bf16", {}).values() if isinstance(r, float)]
    frac = max(fp32) / bound("fp32") if fp32 else float("nan")
    md = md_table(
        ["precision", "M", "examples/s", "of bound", "vs M = 1 (same code)", "vs M = 1 graphed train_many"],
        rows,
    )
    md += (
        f"\n\nformulation=auto (train_many's default; section forms compares them), batch {s['batch']} per network, "
        "Adam steps on device-resident input. Goals: fp32 "
        f"≥ {pct(GOALS['fused_fp32_bound_fraction_m32'])} of the bound at M ≥ 32: {pct(frac)}, "
        f"{verdict(frac >= GOALS['fused_fp32_bound_fraction_m32'])}; bf16 ≥ {GOALS['bf16_examples_per_s']:,.0f} "
        f"examples/s: {max(bf16, default=0):,.0f}, {verdict(max(bf16, default=0) >= GOALS['bf16_examples_per_s'])}."
    )
    return {"examples_per_s": res, "fp32_bound_fraction_m_ge_32": frac}, md


FORM_CASES = {  # column → (formulation, channels_last, cudnn.benchmark)
    "grouped": ("grouped", True, False),
    "split": ("split", True, False),
    "im2col": ("im2col", True, False),
    "split NCHW": ("split", False, False),
    "grouped, cudnn.benchmark": ("grouped", True, True),
    "split, cudnn.benchmark": ("split", True, True),
}


def sec_forms(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The formulations side by side (fp32 at form_ms; bf16 at the largest M without im2col), and the pick of
    formulation=auto on a fresh stack's first fused step."""
    from asc.device import precision_mode

    s, dev = ctx["s"], ctx["device"]
    res: dict[str, dict[str, Any]] = {}
    rows = []
    cases = [("fp32", m, FORM_CASES) for m in s["form_ms"]]
    cases.append(("bf16", s["form_ms"][-1], {k: v for k, v in FORM_CASES.items() if "im2col" not in k}))
    for precision, m, variants in cases:
        name = f"{precision} M={m}"
        res[name] = {k: measure_fused(ctx, m, precision, *v) for k, v in variants.items()}
        with precision_mode(precision, dev):
            step = fused_step(s, m, dev, "auto")
            step()
        res[name]["auto picked"] = step.stack.chosen
        res[name]["auto timings s"] = step.stack.timings
        ctx["forms"] = res
        rows.append(
            [name]
            + [
                f"{res[name][k]:,.0f}" if isinstance(res[name].get(k), float) else res[name].get(k, "")
                for k in FORM_CASES
            ]
            + [step.stack.chosen or "-"]
        )
    md = md_table(["case", *FORM_CASES, "auto picked"], rows)
    md += (
        "\n\nExamples/s of the fused Adam step, batch 16 per network; every formulation computes the same sums "
        "(tests/test_gpu_paths.py); cudnn.benchmark lets cuDNN time its algorithms per shape."
    )
    return {"examples_per_s": res}, md


TEST_GROUPS = {  # "cli" builds the demo dataset (audio decoding, librosa) before its run: its own, last section
    "unit": ["tests/test_fused_cuda.py", "tests/test_train.py", "tests/test_cost.py"],
    "cli": ["tests/test_cli.py"],
}


def sec_tests(ctx: dict[str, Any], groups: Sequence[str] = ("unit",)) -> tuple[dict[str, Any], str]:
    out: dict[str, Any] = {}
    md = []
    for name in groups:
        files = TEST_GROUPS[name]
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "cuda",
            "-p",
            "no:cacheprovider",
            "-k",
            "not compile",
        ]
        cmd += files  # compile: its own section, timed
        if ctx["rehearse"]:
            cmd.append("--collect-only")
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=max(10.0, min(ctx["s"]["tests_timeout_s"], ctx.get("left_s", 1e9) - 10)),
                check=False,
            )
            tail, rc = (proc.stdout + proc.stderr)[-3000:], proc.returncode
        except subprocess.TimeoutExpired as err:
            tail, rc = f"timed out after {err.timeout} s", "timeout"
        summary = tail.strip().splitlines()[-1] if tail.strip() else ""
        out[name] = {"cmd": " ".join(cmd), "rc": rc, "seconds": time.perf_counter() - start, "tail": tail}
        out[name]["summary"] = summary
        md.append(f"`{' '.join(cmd[2:])}` → rc {rc}: {summary}\n\n```\n{tail[-1500:]}\n```")
    out["rc"] = next((v["rc"] for v in out.values() if v["rc"] != 0), 0)
    return out, "\n\n".join(md)


def sec_cli(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    from asc.data.standin import MIN_SCALE

    dev = ctx["device"]
    scale = ctx["s"]["cli_scale"] or MIN_SCALE + 1e-4
    with tempfile.TemporaryDirectory(prefix="asc-gpu-cli-") as ws:
        overrides = [
            "experiment=paper",
            "dataset=standin",
            f"dataset.scale={scale}",
            "runs=[{criteria:[cosine,l1,random],layer_sets:[[C1,C2,C3]],fractions:[0.5,1.0],repeats:2}]",
            "train.epochs=1",
            "train.select_after=0",
            "finetune.epochs=1",
            "finetune.select_after=0",
            f"runtime.device={dev.type}",
            "runtime.latency.measure=false",
            f"paths.data={ws}/data",
            f"paths.store={ws}/store",
            f"paths.results={ws}/results",
            f"hydra.run.dir={ws}/hydra",
        ]
        cmd = [sys.executable, "-m", "asc", *overrides]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=max(10.0, min(ctx["s"]["cli_timeout_s"], ctx.get("left_s", 1e9) - 10)),
                check=False,
            )
            tail, rc = (proc.stdout + proc.stderr)[-3000:], proc.returncode
        except subprocess.TimeoutExpired as err:
            tail, rc = f"timed out after {err.timeout} s", "timeout"
        seconds = time.perf_counter() - start
        results = Path(ws) / "results" / "results.csv"
        rows = results.read_text().count("\n") - 1 if results.is_file() else 0
    out = {"cmd": " ".join(cmd), "rc": rc, "seconds": seconds, "result_rows": rows, "tail": tail}
    md = (
        f"`python -m asc {' '.join(overrides[:8])} ...` on {dev.type}: rc {rc}, {seconds:.1f} s, "
        f"{rows} result rows.\n\n```\n{tail[-1200:]}\n```"
    )
    return out, md


def sec_projection(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Baseline at the best measured M = 1 fp32 rate, fine-tuning at the fused fp32 rate of the grid's width
    groups (all criteria of one layer set keep equal widths: ~10-200 runs per fused call; M = 32 is taken, the
    largest measured M ≤ 32 if it is missing), evaluation and pruning not included."""
    import bench_grid  # the sibling script: scripts/ is sys.path[0] when this file runs

    full = bench_grid.full_grid_examples("paper")
    m1 = ctx.get("m1_rate", {})
    base_rate = max((v for k, v in m1.items() if "fp32" in k), default=float("nan"))
    fused = ctx.get("fused", {}).get("fp32", {})
    ms = [m for m, r in fused.items() if isinstance(r, float) and m <= 32]
    ft_rate = fused[max(ms)] if ms else float("nan")
    base_min = full["baseline"] / base_rate / 60
    ft_min = full["finetune"] / ft_rate / 60
    total = base_min + ft_min
    goal = GOALS["paper_grid_fp32_min"]
    out = {**full, "baseline_rate": base_rate, "finetune_rate": ft_rate, "m_used": max(ms, default=None)}
    out.update(baseline_min=base_min, finetune_min=ft_min, total_min=total, goal_min=goal)
    md = (
        f"`experiment=paper` at scale 1: {full['runs']} fine-tuning runs, {full['finetune'] / 1e6:.1f} M fine-tuning "
        f"+ {full['baseline'] / 1e6:.2f} M baseline examples. At {base_rate:,.0f} (M = 1, fp32) and "
        f"{ft_rate:,.0f} examples/s (fused M = {max(ms, default='-')}, fp32): baseline {base_min:.1f} min + "
        f"fine-tuning {ft_min:.1f} min = {total:.1f} min (training only). Goal ≤ {goal:g} min: "
        f"{verdict(total <= goal)}."
    )
    return out, md


def sec_compile(ctx: dict[str, Any], mode: bool | str = True) -> tuple[dict[str, Any], str]:
    """The M = 1 fused step (fp32) through torch.compile in ``mode``: the first call's seconds (tracing and
    compiling forward and backward) and the rate after it; compare the fused section's M = 1 (eager, same step)
    and the baseline section's CUDA graphs."""
    from asc.device import precision_mode
    from asc.speed import compiled_forward

    s, dev = ctx["s"], ctx["device"]
    mode = "aot_eager" if ctx["rehearse"] else mode
    name = "inductor" if mode is True else str(mode)
    with precision_mode("fp32", dev):
        step = fused_step(s, 1, dev, "grouped", forward_fn=compiled_forward(mode))
        start = time.perf_counter()
        step()
        sync(dev)
        first = time.perf_counter() - start
        r = rate(step, dev, s["min_s"], 20 * s["min_steps"])
    eager = ctx.get("fused", {}).get("fp32", {}).get(1)
    out = {"mode": name, "first_call_s": first, "examples_per_s": r}
    md = md_table(
        ["M = 1 fused step, fp32", "examples/s", "of bound", "1st call s (compile)"],
        [[f"torch.compile {name}", f"{r:,.0f}", pct(r / bound("fp32")), f"{first:.1f}"]],
    )
    return out, md + (f"\n\nEager, same step: {eager:,.0f} examples/s." if isinstance(eager, float) else "")


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
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sections.split(",") if n.strip()]
    if bad := sorted(set(names) - set(SECTIONS)):
        parser.error(f"unknown section(s) {bad}; choose from {','.join(SECTIONS)}")
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
