"""Entry point of the ``asc`` command (and ``python -m asc``).

glibc returns freed blocks larger than 32 MiB to the kernel and faults them back in on the next training step or
STFT batch; on small VMs that page-faulting, not arithmetic, dominates (measured 1.45–1.7× faster training and
2.5–2.9× faster batched STFT with it disabled). These variables must be set before the process starts, so the
entry point re-executes itself once with them set. ASC_MALLOC_TUNING=0 turns this off. The re-executed process
gets the command's own name back as ``sys.argv[0]`` (Hydra names the program from it: ``asc -sc install=bash``
registers completion for ``asc``, not ``python``).

OpenMP threads (torch's intra-op pool, libgomp in torch's Linux wheels) spin at most ``GOMP_SPINCOUNT=10000``
times before sleeping while they wait for work (set before torch is imported, unless the user chose a wait policy:
OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME). libgomp's default is 300,000 spins: with 2 threads on 2 cores
and any other busy process, every parallel region then waits for a spinner that the kernel descheduled, and a
fused fine-tuning step of the demo ran ~2.5x slower in wall time (scripts/bench_finetune_demo.py --spin). 10,000
spins still bridge the microseconds between one op and the next, so an unloaded machine keeps its hand-off
latency. The weights are the same bit for bit: the thread count and the split of the work are unchanged, only how
an idle thread waits.
"""

from __future__ import annotations

import os
import sys

PROG_ENV = "ASC_PROG"  # the program name across the re-execution
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
OMP_ENV = {"GOMP_SPINCOUNT": "10000"}  # read by the OpenMP runtime (libgomp) when torch loads it
WAIT_POLICY_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")  # a user's own choice wins


def wait_policy(environ: dict[str, str] | os._Environ = os.environ) -> dict[str, str]:
    """The OpenMP variables to add to ``environ``: :data:`OMP_ENV` unless it names a wait policy already."""
    return {} if any(k in environ for k in WAIT_POLICY_VARS) else dict(OMP_ENV)


def malloc_tuning_wanted(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    return (
        sys.platform.startswith("linux")
        and environ.get("ASC_MALLOC_TUNING", "1") != "0"
        and not all(environ.get(k) == v for k, v in MALLOC_ENV.items())
        and "LD_PRELOAD" not in environ  # someone preloaded tcmalloc/jemalloc: leave their choice alone
    )


def main() -> None:
    os.environ.update(wait_policy())  # before anything imports torch (importing asc imports none)
    if malloc_tuning_wanted():
        env = {**os.environ, **MALLOC_ENV, "ASC_MALLOC_TUNED": "1", PROG_ENV: sys.argv[0]}
        os.execve(sys.executable, [sys.executable, "-m", "asc", *sys.argv[1:]], env)
    if PROG_ENV in os.environ:  # re-executed: the command as the user typed it (asc, or a path to it)
        sys.argv[0] = os.environ.pop(PROG_ENV)
    from asc.app.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
