"""The demo's fine-tuning pass (18 runs of one pruned width, one of them distilled) timed per source tree.

    python scripts/bench_finetune_demo.py [--trees . /tmp/old] [--rounds 3] [--runs 18] [--widths 11 12 27]
                                          [--threads 1] [--spin]

Each round runs one fresh process per case (a tree: ``PYTHONPATH=<tree>``, ``--threads`` torch threads, the
malloc variables the ``asc`` entry point sets; with ``--spin`` each tree twice, under libgomp's default wait
policy and under the entry point's ``GOMP_SPINCOUNT=10000``, asc/__main__.py) that fine-tunes the demo's runs
for one epoch on synthetic features of the demo's shapes (240 training clips, 120 selection clips, 40 x 500
log-mels, 10 scenes: subsets 5 x 100 %, 3 x 25 % / 50 % / 100 %, 6 repeats at 100 % and one KD run) and prints
its wall and CPU seconds (CPU time: less moved by the others' load). Cases are interleaved round by round, so a
burst of load from other processes hits all of them alike; the script prints each case's median and its ratio
to the first case's. Only the time is compared, not the weights. Works on trees from before the module relayout
(``asc.train``) and after it (``asc.training.train``).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
FRACTIONS = [1.0] * 5 + [0.25, 0.5, 1.0] * 3 + [1.0] * 6  # the demo's 17 hard-label runs; the KD run is 100 %


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    try:
        from asc.nets.model import build_model
        from asc.training.train import Recipe, Run, train_many
    except ImportError:  # a tree from before the relayout
        from asc.model import build_model
        from asc.train import Recipe, Run, train_many
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(240, 40, 500, generator=gen)
    y = torch.randint(0, 10, (240,), generator=gen)
    xs, ys = torch.randn(120, 40, 500, generator=gen), torch.randint(0, 10, (120,), generator=gen)
    # Written out, not asc.nets.model_spec.DEFAULT_SPEC: every tree timed (--trees, older ones too) builds the same net
    spec = {
        "widths": list(args.widths),
        "kernel": 7,
        "pools": [None, [5, 5], [4, 100]],
        "dropout": 0.3,
        "dense": 100,
        "n_classes": 10,
        "input_shape": [40, 500],
        "bn_eps": 1e-3,
        "bn_momentum": 0.01,
    }
    recipe = Recipe(epochs=1, batch_size=16, lr=1e-3, adam_eps=1e-7, select_after=0)
    fractions = (FRACTIONS + [1.0])[: args.runs]
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for m, frac in enumerate(fractions):
            torch.manual_seed(m)
            idx = torch.randperm(240, generator=gen)[: round(240 * frac)]
            kd = args.kd and m == len(fractions) - 1
            teacher = (
                {"logits": torch.randn(240, 10), "alpha": 0.02, "temperature": 2.0, "kl_mean": "per_clip"}
                if kd
                else None
            )
            work = Path(tmp) / str(m)
            work.mkdir()
            runs.append(Run(build_model(spec), idx, m, work, recipe, f"run {m}", teacher=teacher))
        start, cpu = time.perf_counter(), time.process_time()
        train_many(runs, (x, y), (xs, ys), device="cpu", progress=False, eval_batch_size=64)
        print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trees", nargs="+", default=[str(ROOT)], help="source trees (the first is the base)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=18, help="how many of the demo's runs (18: with KD)")
    parser.add_argument("--no-kd", dest="kd", action="store_false", help="the last run on hard labels too")
    parser.add_argument(
        "--widths", type=int, nargs=3, default=[11, 12, 27], help="the pruned widths (the demo's cosine)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1; 2 with --spin)")
    parser.add_argument("--spin", action="store_true", help="each tree also under GOMP_SPINCOUNT=10000")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    threads = args.threads or (2 if args.spin else 1)
    flags = ["--runs", str(args.runs), "--threads", str(threads), "--widths", *map(str, args.widths)]
    flags += [] if args.kd else ["--no-kd"]
    cases = {}  # label -> the child's environment
    for tree in args.trees:
        env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        env |= {**MALLOC, "PYTHONPATH": tree, "OMP_NUM_THREADS": str(threads)}
        cases[tree if not args.spin else f"{tree} (libgomp default)"] = env
        if args.spin:
            cases[f"{tree} (GOMP_SPINCOUNT=10000)"] = {**env, "GOMP_SPINCOUNT": "10000"}
    times: dict[str, list[float]] = {c: [] for c in cases}
    cpus: dict[str, list[float]] = {c: [] for c in cases}
    for r in range(args.rounds):
        for case, env in cases.items():
            out = subprocess.run(
                [sys.executable, __file__, "--child", *flags],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            times[case].append(got["seconds"])
            cpus[case].append(got["cpu_seconds"])
            print(
                f"round {r}: {case}: {got['seconds']:.2f} s wall, {got['cpu_seconds']:.2f} s CPU", flush=True
            )
    first = next(iter(cases))
    base, base_cpu = statistics.median(times[first]), statistics.median(cpus[first])
    print(f"{threads} thread(s), {args.runs} runs, widths {args.widths}, one epoch each:")
    for case in cases:
        med, cpu = statistics.median(times[case]), statistics.median(cpus[case])
        print(
            f"{case}: median {med:.2f} s wall ({med / base:.3f} x the first case), "
            f"{cpu:.2f} s CPU ({cpu / base_cpu:.3f} x) over {len(times[case])} rounds"
        )


if __name__ == "__main__":
    main()
