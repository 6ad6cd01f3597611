"""Per-device fine-tuning (DCASE 2025): the six device models in one fused train_many call vs six sequential ones.

    python scripts/bench_per_device.py [--scale 0.05] [--epochs 1] [--rounds 3] [--group-size N]

Synthetic 40 x 51 features with split25's device counts (a 25,520, b 1,900, c 1,920, s1 1,840, s2 1,850,
s3 1,870 clips; docs/tau2022_mobile.md §4) times ``--scale``, the dcase22 network, batch 64. Each round times
the fused call (asc.training.per_device.device_runs -> asc.training.train.train_many, one call for all six) and the 2025
baseline's way, six train_many calls one after another, interleaved so that load from other processes hits
both alike; the medians and their ratio (sequential / fused: > 1 means the fused pass is faster) are printed.
Only the ratio means anything, and only for this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asc.nets.model import build_model
from asc.training.per_device import device_runs, device_subsets, last_epoch
from asc.training.train import Recipe, train_many

SPLIT25 = {"a": 25520, "b": 1900, "c": 1920, "s1": 1840, "s2": 1850, "s3": 1870}
DCASE22 = {"widths": [16, 16, 32], "pools": [None, [5, 5], [4, 10]], "input_shape": [40, 51]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--group-size", type=int, default=None, help="models per grouped pass (default: auto)")
    args = ap.parse_args()
    counts = {d: max(1, round(n * args.scale)) for d, n in SPLIT25.items()}
    devices = np.repeat(list(counts), list(counts.values()))
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (len(devices),), generator=g)
    x = torch.randn(len(devices), 40, 51, generator=g) + 0.1 * y[:, None, None]
    select = x[:64], y[:64]
    subsets = device_subsets(pd.DataFrame({"device": devices}))
    recipe = last_epoch(Recipe(epochs=args.epochs, batch_size=64, lr=1e-3, adam_eps=1e-7, select_after=0))
    torch.manual_seed(0)
    general = build_model(DCASE22)
    times: dict[str, list[float]] = {"fused": [], "sequential": []}
    with tempfile.TemporaryDirectory(prefix="asc-per-device-") as tmp:
        for r in range(args.rounds):
            for mode in ("fused", "sequential") if r % 2 == 0 else ("sequential", "fused"):
                runs = device_runs(general, subsets, recipe=recipe, seed=0, workdir=Path(tmp) / f"{mode}{r}")
                start = time.perf_counter()
                if mode == "fused":
                    train_many(runs, (x, y), select, progress=False, group_size=args.group_size)
                else:
                    for run in runs:
                        train_many([run], (x, y), select, progress=False, group_size=args.group_size)
                times[mode].append(time.perf_counter() - start)
    fused, seq = statistics.median(times["fused"]), statistics.median(times["sequential"])
    print(f"clips {len(devices)} ({', '.join(f'{d} {n}' for d, n in counts.items())}), epochs {args.epochs}")
    print(f"fused: {fused:.2f} s   sequential: {seq:.2f} s   ratio sequential/fused: {seq / fused:.2f}x")


if __name__ == "__main__":
    main()
