"""The sections of scripts/gpu_check.py that run programs: the environment, the CUDA tests, a CLI slice of
``experiment=paper`` and the projection of the whole grid from the measured rates."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from gpu_check_common import GOALS, PEAK_TFLOPS, ROOT, bound, example_gflop, md_table, verdict


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


TEST_GROUPS = {  # "cli" builds the demo dataset (audio decoding, librosa) before its run: its own, last section
    "unit": ["tests/test_fused_cuda.py", "tests/test_train.py", "tests/test_latency.py"],
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
        tail, rc = _run(cmd, ctx, "tests_timeout_s")
        summary = tail.strip().splitlines()[-1] if tail.strip() else ""
        out[name] = {"cmd": " ".join(cmd), "rc": rc, "seconds": time.perf_counter() - start, "tail": tail}
        out[name]["summary"] = summary
        md.append(f"`{' '.join(cmd[2:])}` → rc {rc}: {summary}\n\n```\n{tail[-1500:]}\n```")
    out["rc"] = next((v["rc"] for v in out.values() if v["rc"] != 0), 0)
    return out, "\n\n".join(md)


def _run(cmd: list[str], ctx: dict[str, Any], limit: str) -> tuple[str, int | str]:
    """(the output's last 3000 characters, the exit code or "timeout") of ``cmd`` in the checkout, killed after
    the section's ``limit`` or what is left of the budget."""
    timeout = max(10.0, min(ctx["s"][limit], ctx.get("left_s", 1e9) - 10))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        return f"timed out after {err.timeout} s", "timeout"
    return (proc.stdout + proc.stderr)[-3000:], proc.returncode


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
        if ctx["rehearse"]:  # the CPU proves the path, not the speed: a narrow network, one run per criterion
            overrides.append("model.widths=[4,4,8]")
            overrides = [o for o in overrides if not o.startswith("runs=")]
            overrides.append(
                "runs=[{criteria:[cosine,l1],layer_sets:[[C1,C2,C3]],fractions:[1.0],repeats:1}]"
            )
            # the ONNX exports of the quantise stage and the report's tables and figures run on the CPU alike on a
            # GPU machine (nothing of the device to rehearse; tests/test_experiments.py runs them): the job ends
            # with fine-tuning, whose rows are in results.csv
            overrides += ["quantise.enabled=false", "stage=finetune"]
        cmd = [sys.executable, "-m", "asc", *overrides]
        start = time.perf_counter()
        tail, rc = _run(cmd, ctx, "cli_timeout_s")
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
