"""Subprocess half of ``scripts/bench.py --section malloc``: training and batched-STFT throughput in a fresh process.

glibc reads MALLOC_* only at process start, so bench.py runs this file twice, with and without the variables, and
compares. Prints one JSON line {measurement: median rate}.
"""

from __future__ import annotations

import argparse
import json

import bench  # this file's folder (scripts/) is sys.path[0] when it runs as a script
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="training steps per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (the median is reported)")
    args = parser.parse_args()
    from asc.frontend.features import LogMel
    from asc.frontend.frontend_options import FrontEnd

    cfg = bench.load_cfg("features/logmel40x500.yaml")
    waves = torch.randn(
        16, round(10 * cfg["sample_rate"]), dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    frontend = LogMel(FrontEnd.from_config(cfg))
    cases = {
        "training, batch 16 (examples/s)": bench.train_case(steps=args.steps),
        "STFT float32, batch 4 (clips/s)": bench.features_case(frontend, waves, 4),
        "STFT float32, batch 16 (clips/s)": bench.features_case(frontend, waves, 16),
    }
    print(json.dumps(bench.interleaved(cases, args.repeats)))


if __name__ == "__main__":
    main()
