"""Executing a plan: each stage of the chain, in order, builds what the store lacks (asc/chain.py, asc/context.py).

Every stage's time goes into the job's log, and one line at the end lists them all, so a slow job says where
its time went.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from asc.chain import CHAIN, STAGES
from asc.context import Context
from asc.plan import by_stage
from asc.step import Step

log = logging.getLogger(__name__)


def execute(
    steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str, report: bool = True
) -> dict[str, float]:
    """Bring every step up to the stage ``upto`` up to date (``report=False``: a multirun job, whose report is
    written once after the sweep); returns the seconds each stage took."""
    ctx = Context(cfg, write_report=report)
    grouped, seconds = by_stage(steps), {}
    for stage in CHAIN[: STAGES.index(upto) + 1]:
        if not grouped[stage.name]:
            continue
        start = time.perf_counter()
        stage.run(grouped[stage.name], ctx)
        seconds[stage.name] = time.perf_counter() - start
        log.info(
            "stage %s: %d step(s) up to date in %.1f s",
            stage.name,
            len(grouped[stage.name]),
            seconds[stage.name],
        )
    log.info("stage times: %s", ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
    return seconds
