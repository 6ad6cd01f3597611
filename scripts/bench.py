"""Throughput benchmarks of the front end, the training step, the malloc tuning and pruning, on this machine.

    python scripts/bench.py [--quick] [--section features,decode,train,fused,malloc,prune,planning,grid] [--clips N]
                            [--batch B] [--experiment paper] [--scale S] [--modes fused,one-by-one] [--paper-widths]

Every number is measured in this run: the cases of a section are interleaved round by round (so a burst of load
from other processes hits all of them alike) and each reports the median rate over the rounds. Speed goals are
printed beside the measurements, never asserted. ``--quick`` shrinks everything to a smoke test (< 60 s), except
the grid (scripts/bench_grid.py: the paper's whole grid end to end on the TAU-sized stand-in), which ``--quick``
shrinks to a few minutes on 2 CPU cores; the grid is not in the default sections.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import bench_grid  # the sibling scripts: scripts/ is sys.path[0] when this file runs
import bench_planning
import numpy as np
import torch

from asc.__main__ import MALLOC_ENV  # the variables the `asc` entry point re-executes itself with

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("features", "decode", "train", "fused", "malloc", "prune", "planning", "grid")
DEFAULT_SECTIONS = SECTIONS[:-1]  # the grid runs whole training jobs: asked for by name
FULL = {
    "repeats": 7,
    "clips": 32,
    "steps": 2,
    "train_repeats": 5,
    "rounds": 2,
    "sizes": (64, 512, 2048),
    "fused_ms": (1, 8, 32, 128),
    "fused_repeats": 3,
    "batch": 16,
}
QUICK = {
    "repeats": 1,
    "clips": 8,
    "steps": 1,
    "train_repeats": 1,
    "rounds": 1,
    "sizes": (64, 512),
    "fused_ms": (1, 4, 8),
    "fused_repeats": 1,
    "batch": 4,  # training and fused steps: the smoke test proves the ratio lines, a quarter of the compute
}


def load_cfg(name: str) -> dict[str, Any]:
    """One group of the default config as the CLI composes it (``"features/logmel40x500.yaml"`` → features)."""
    plain = bench_grid.compose([])
    rt = plain["runtime"]  # the speed knobs the benchmark varies, next to the group's values
    return {**plain[name.split("/")[0]], "batch_size": rt["feature_batch_size"], "workers": rt["workers"]}


def interleaved(cases: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median items/s of each case; each is warmed up once (its cheaper ``warmup`` if set), then all run in turn."""
    for fn in cases.values():
        getattr(fn, "warmup", fn)()
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            n = fn()
            rates[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:  # first column left-aligned, numbers right-aligned
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def verdict(value: float, goal: float, above: bool = True) -> str:
    return "met" if (value >= goal if above else value < goal) else "NOT met"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def features_case(frontend: torch.nn.Module, waves: torch.Tensor, batch: int) -> Callable[[], int]:
    """LogMel over all of ``waves`` (a multiple of ``batch`` clips), copying each batch to the frontend's device."""
    device = frontend.window.device

    def run() -> int:
        with torch.inference_mode():
            for i in range(0, len(waves), batch):
                frontend(waves[i : i + batch].to(device))
            sync(device)
        return len(waves)

    run.warmup = lambda: features_case(frontend, waves[:batch], batch)()  # first calls of a shape are slow
    return run


def train_case(
    device: str = "cpu",
    channels_last: bool = False,
    threads: int | None = None,
    batch: int = 16,
    steps: int = 1,
) -> Callable[[], int]:
    """``steps`` training steps (train mode, cross-entropy, Adam) of the baseline on random (batch, 40, 500) input."""
    from asc.nets.model import build_model

    dev = torch.device(device)
    model = build_model().to(dev).train()
    x = torch.randn(batch, 1, 40, 500, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def run() -> int:
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            sync(dev)
        finally:
            torch.set_num_threads(before)
        return batch * steps

    return run


def fused_case(
    m: int, device: str = "cpu", steps: int = 1, batch: int = 16, precision: str = "fp32", group: int = 0
) -> Callable[[], int]:
    """``steps`` fused training steps (asc.training.fused, the code train_many runs) of m baseline networks at ``batch``
    each, ``group`` models per grouped pass (0: all), input already on the device: the compute that fusion
    changes, without data gathering or evaluation."""
    from asc.nets.model import build_model
    from asc.training import fused
    from asc.training.device import precision_mode

    dev = torch.device(device)
    stack = fused.FusedStack([build_model() for _ in range(m)], dev, channels_last=True)
    x = torch.randn(batch, m, 40, 500, device=dev)
    y = torch.randint(0, 10, (batch, m), device=dev)
    kw = {
        "lr": torch.full((m,), 1e-3, dtype=torch.float64, device=dev),
        "eps": torch.full((m,), 1e-7, device=dev),
        "seeds": torch.arange(m, device=dev),
    }

    def run() -> int:
        with precision_mode(precision, dev):
            for _ in range(steps):
                for i in range(0, m, group or m):
                    sel = list(range(i, min(m, i + (group or m))))
                    stack.train_step(sel, x[:, sel], y[:, sel], **kw)
        sync(dev)
        return batch * m * steps

    return run


def bench_fused(s: dict[str, Any]) -> None:
    """Aggregate examples/s of M networks fused vs one by one (= M = 1 fused code, M times: its rate)."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        ms = s["fused_ms"] if device == "cpu" else (1, 8, 32, 128)
        steps = 1 if device == "cpu" else 20
        b = s["batch"]
        cases = {
            "today's fit (nn.Module, channels_last, torch Adam)": train_case(
                device, True, batch=b, steps=steps
            )
        }
        cases.update({f"fused M={m}": fused_case(m, device, steps, batch=b) for m in ms})
        if device == "cpu":  # what train_many does on the CPU (asc.training.device.auto_group_size)
            cases[f"M={ms[-1]}, one model per pass (CPU default)"] = fused_case(
                ms[-1], device, steps, batch=b, group=1
            )
        if device == "cuda":
            cases.update(
                {f"fused M=128 {p}": fused_case(128, device, steps, precision=p) for p in ("tf32", "bf16")}
            )
        rates = interleaved(cases, s["fused_repeats"])
        one = rates["fused M=1"]
        print(
            f"{device}: batch {b} per network, Adam steps, medians of {s['fused_repeats']} interleaved rounds"
        )
        print(
            table(
                ["case", "examples/s", "vs one-by-one"],
                [[k, f"{v:.1f}", f"{v / one:.2f}×"] for k, v in rates.items()],
            )
        )
        for m in ms[1:]:
            goal = 1.0 if device == "cpu" else 20.0
            ratio = rates[f"fused M={m}"] / one
            verdict_text = verdict(ratio, goal) if device == "cuda" and m >= 32 or device == "cpu" else "-"
            print(
                f"{device} ratio fused/one-by-one at M={m}: {ratio:.2f}× (goal ≥ {goal:g}×: {verdict_text})"
            )
        if device == "cpu":
            r = rates[f"M={ms[-1]}, one model per pass (CPU default)"] / one
            print(f"cpu ratio train_many default (one model per pass) / one-by-one at M={ms[-1]}: {r:.2f}×")
        plain = rates["today's fit (nn.Module, channels_last, torch Adam)"]
        print(f"{device} one-by-one (fused code, M=1) vs today's fit: {one / plain:.2f}×")


def render_clips(n: int) -> list[np.ndarray]:
    from asc.data.demo import Synthesiser, plan_clips

    cfg = load_cfg("dataset/demo.yaml")
    plan, synth = plan_clips(cfg), Synthesiser(cfg)
    step = max(1, len(plan) // n)  # spread over scenes and devices
    return [synth.render(plan[i * step % len(plan)]) for i in range(n)]


def cycle(clips: list[np.ndarray], n: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([clips[i % len(clips)] for i in range(n)]))


def bench_features(clips: list[np.ndarray], s: dict[str, Any]) -> None:
    from asc.frontend.features import LogMel, librosa_reference
    from asc.frontend.frontend_options import FrontEnd

    cfg = load_cfg("features/logmel40x500.yaml")
    frontend = FrontEnd.from_config(cfg)
    waves = cycle(clips, 16)
    ys = list(waves.numpy())

    def librosa_all() -> int:
        return len([librosa_reference(y, frontend) for y in ys])

    librosa_all.warmup = lambda: librosa_reference(ys[0], frontend)  # the first call compiles (numba)
    cases: dict[str, Callable[[], int]] = {"librosa, per clip (float64)": librosa_all}
    for dtype in ("float32", "float64"):
        logmel = LogMel(replace(frontend, dtype=dtype))
        for b in (1, 4, 16):
            cases[f"ours {dtype}, batch {b}"] = features_case(logmel, waves, b)
    if torch.cuda.is_available():
        gpu = LogMel(frontend).to("cuda")
        cases["ours float32, batch 64, CUDA"] = features_case(gpu, cycle(clips, 64), 64)
    rates = interleaved(cases, s["repeats"])
    lib = rates.pop("librosa, per clip (float64)")
    rows = [["librosa, per clip (float64)", f"{lib:.1f}", "1.00×", "", ""]]
    for name, r in rates.items():
        goal = 50.0 if "CUDA" in name else 2.0
        rows.append([name, f"{r:.1f}", f"{r / lib:.2f}×", f"≥ {goal:g}×", verdict(r / lib, goal)])
    print(table(["front end", "clips/s", "ours/librosa", "goal", ""], rows))
    best = max((r, n) for n, r in rates.items() if "CUDA" not in n)
    print(
        f"best CPU ratio ours/librosa: {best[0] / lib:.2f}× ({best[1]}), goal ≥ 2×: {verdict(best[0] / lib, 2)}"
    )
    b = cfg["batch_size"]
    print(f"default config (float32, batch {b}): {rates[f'ours float32, batch {b}'] / lib:.2f}× librosa")


def bench_decode(clips: list[np.ndarray], s: dict[str, Any]) -> None:
    import soundfile as sf

    from asc.frontend.audio import load_audio
    from asc.frontend.features import LogMel, extract
    from asc.frontend.frontend_options import FrontEnd

    cfg = load_cfg("features/logmel40x500.yaml")
    frontend = FrontEnd.from_config(cfg)
    with tempfile.TemporaryDirectory(prefix="asc-bench-") as tmp:
        paths = [Path(tmp) / f"clip{i:03d}.wav" for i in range(len(clips))]
        for p, y in zip(paths, clips, strict=True):
            sf.write(p, y, cfg["sample_rate"], subtype="PCM_24", format="WAV")
        out = np.empty((len(paths), cfg["n_mels"], cfg["frames"]), np.float32)
        b = int(cfg["batch_size"])
        n = max(b, len(clips) // b * b)
        cases = {
            "decode (load_audio, serial)": lambda: len([load_audio(p, frontend, 10) for p in paths]),
            f"features from memory (batch {b})": features_case(LogMel(frontend), cycle(clips, n), b),
            "extract(): decode overlapped with features": lambda: (
                extract(
                    paths,
                    out,
                    frontend,
                    clip_seconds=10,
                    batch_size=b,
                    workers=cfg["workers"],
                    progress=False,
                )
                and len(paths)
            ),
        }
        rates = interleaved(cases, s["repeats"])
    decode, feats, whole = rates.values()
    serial = 1 / (1 / decode + 1 / feats)
    rows = [[k, f"{v:.1f}"] for k, v in rates.items()] + [
        ["(decode then features, no overlap: computed)", f"{serial:.1f}"]
    ]
    print(
        f"{len(clips)} demo clips, 10 s 44.1 kHz 24-bit WAV, in the page cache; {cfg['workers']} decode threads"
    )
    print(table(["stage", "clips/s"], rows))
    print(f"ratio whole/decode: {whole / decode:.2f} (goal ≥ 0.8: {verdict(whole / decode, 0.8)})")
    print(
        f"whole/features-only: {whole / feats:.2f} (1.00 = decoding fully hidden behind the STFT); "
        f"whole/no-overlap: {whole / serial:.2f} (> 1 = overlap pays)"
    )
    # The STFT already keeps every core busy, so even perfect overlap cannot beat the core-time bound:
    # n cores / (core-seconds of features + of decoding per clip).
    n = torch.get_num_threads()
    bound = n / (n / feats + 1 / decode)
    print(
        f"core-time bound with perfect overlap on {n} cores: {bound:.1f} clips/s = {bound / decode:.2f} × decode "
        f"(whole reaches {whole / bound:.2f} of it)"
    )


def bench_train(s: dict[str, Any]) -> None:
    default = torch.get_num_threads()
    kw = {"steps": s["steps"], "batch": s["batch"]}
    cases = {
        f"eager ({default} threads)": train_case(**kw),
        "channels_last": train_case(channels_last=True, **kw),
        "eager, 1 thread": train_case(threads=1, **kw),
        "eager, 2 threads": train_case(threads=2, **kw),
    }
    if torch.cuda.is_available():
        cases["CUDA eager"] = train_case("cuda", batch=s["batch"], steps=10 * s["steps"])
        cases["CUDA channels_last"] = train_case(
            "cuda", channels_last=True, batch=s["batch"], steps=10 * s["steps"]
        )
    rates = interleaved(cases, s["train_repeats"])
    eager = rates[f"eager ({default} threads)"]
    print(
        table(
            [f"batch {s['batch']}, Adam step", "examples/s", "vs eager"],
            [[k, f"{v:.1f}", f"{v / eager:.2f}×"] for k, v in rates.items()],
        )
    )
    best = max((r, n) for n, r in rates.items() if "CUDA" not in n)
    print(
        f"best CPU variant vs plain eager: {best[1]} {best[0]:.1f} ex/s = {best[0] / eager:.2f}× eager ({eager:.1f} ex/s)"
    )


def run_worker(tuned: bool, s: dict[str, Any]) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    if tuned:
        env.update(MALLOC_ENV)
    worker = str(ROOT / "scripts" / "_bench_worker.py")
    cmd = [sys.executable, worker, "--steps", str(s["steps"]), "--repeats", str(s["train_repeats"])]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_malloc(s: dict[str, Any]) -> None:
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(s["rounds"]):  # alternate the two processes so load drifts hit both
        for tuned in (False, True):
            runs[tuned].append(run_worker(tuned, s))
    med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in runs.items()}
    rows = [
        [k, f"{med[False][k]:.1f}", f"{med[True][k]:.1f}", f"{med[True][k] / med[False][k]:.2f}×"]
        for k in med[False]
    ]
    print(
        f"{s['rounds']} round(s) of two subprocesses; tuned = "
        + " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())
    )
    print(table(["measurement", "plain malloc", "tuned", "tuned/plain"], rows))


def bench_prune(s: dict[str, Any]) -> None:
    try:
        from asc.prune import benchmark
    except ImportError as err:
        print(f"skipped: asc.prune.benchmark is not importable ({err})")
        return
    rows = benchmark.similarity_benchmark(sizes=s["sizes"])
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    print(benchmark.format_table(rows) if hasattr(benchmark, "format_table") else table(list(rows[0]), cells))
    for r in rows:
        if r.get("n") == 2048:
            t = r.get("nystrom_total_s", float("nan")), r.get("exact_total_s", float("nan"))
            print(
                f"2048 filters, similarity + selection: Nyström {t[0]:.3f} s, exact {t[1]:.3f} s "
                f"(goal < 1 s: {verdict(max(t), 1.0, above=False)}); Nyström/exact speed-up {r.get('speedup', 0):.2f}×"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke test that finishes in < 60 s"
    )
    parser.add_argument(
        "--section",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--experiment", default="paper", help="grid: the experiment file to time (conf/experiment/)"
    )
    parser.add_argument(
        "--scale", type=float, help="grid: stand-in size vs TAU (default 1, quick the smallest, 0.0144)"
    )
    parser.add_argument("--modes", default="fused", help="grid: fused, one-by-one or both (comma-separated)")
    parser.add_argument(
        "--clips", type=int, help="demo clips rendered for features/decode (default 32, quick 8)"
    )
    parser.add_argument(
        "--batch", type=int, help="train/fused: examples per network and step (default 16, quick 4)"
    )
    parser.add_argument(
        "--paper-widths",
        action="store_true",
        help="grid: the experiment's network even with --quick (quick alone: widths [4,4,8])",
    )
    args = parser.parse_args(argv)
    sections = [x.strip() for x in args.section.split(",") if x.strip()]
    if bad := sorted(set(sections) - set(SECTIONS)):
        parser.error(f"unknown section(s) {bad}; choose from {','.join(SECTIONS)}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if bad := sorted(set(modes) - {"fused", "one-by-one"}):
        parser.error(f"unknown mode(s) {bad}; choose from fused,one-by-one")
    s = dict(QUICK if args.quick else FULL)
    s["clips"] = max(1, args.clips or s["clips"])
    s["batch"] = max(1, args.batch or s["batch"])
    tuned = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, CUDA: {cuda}; "
        f"malloc tuning in this process: {'on' if tuned else 'off'}; {'quick' if args.quick else 'full'} run, "
        f"medians of {s['repeats']} (training {s['train_repeats']}) interleaved rounds"
    )
    clips = render_clips(s["clips"]) if {"features", "decode"} & set(sections) else []
    runs = {
        "features": ("1. Features: log-mel front end", lambda: bench_features(clips, s)),
        "decode": ("2. Decode + features end to end", lambda: bench_decode(clips, s)),
        "train": ("3. Training throughput", lambda: bench_train(s)),
        "fused": ("3b. Fused training: M networks in one pass vs one by one", lambda: bench_fused(s)),
        "malloc": ("4. Malloc tuning (what the asc entry point's re-exec buys)", lambda: bench_malloc(s)),
        "prune": ("5. Pruning: similarity + selection (Algorithm 1)", lambda: bench_prune(s)),
        "planning": (
            "7. Planning: a dry run beside a bare torch import (fresh interpreters)",
            lambda: bench_planning.bench_planning(repeats=3 if args.quick else 7, table=table),
        ),
        "grid": (
            "6. The experiment's grid end to end on the TAU-sized stand-in",
            lambda: bench_grid.bench_grid(
                experiment=args.experiment,
                scale=args.scale,
                quick=args.quick,
                narrow=args.quick and not args.paper_widths,
                modes=modes,
                table=table,
                device="cuda" if torch.cuda.is_available() else "cpu",
            ),
        ),
    }
    for name in SECTIONS:
        if name in sections:
            start = time.perf_counter()
            print(f"\n== {runs[name][0]} ==")
            runs[name][1]()
            print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
