"""Executing a plan: each stage of the chain, in order, builds what the store lacks (asc/pipeline/chain.py, asc/pipeline/context.py).

A stage whose content did not exist at planning (a dataset still to be downloaded, or being extracted by
another job) has the later stages' checks run as soon as it has run, before anything is built on that content:
a job refuses the same data the same way whether it planned before the data arrived or after (asc/pipeline/chain.py,
``Stage.ready``).

Every stage's time goes into the job's log, and one line at the end lists them all, so a slow job says where
its time went. The log also says what will be built and the projected time, one line per finished artifact with
k/N and an ETA, and, when no bars are drawn, a line whenever a long step kept it silent (asc/pipeline/job_progress.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from asc.core.progress import Heartbeat, show_progress
from asc.pipeline.chain import CHAIN, STAGES, STORE_OF
from asc.pipeline.context import Context
from asc.pipeline.job_progress import JobProgress
from asc.pipeline.plan import by_stage
from asc.pipeline.stages.dataset import results_label
from asc.pipeline.step import Step

log = logging.getLogger(__name__)


def execute(
    steps: Sequence[Step],
    cfg: Mapping[str, Any],
    *,
    upto: str,
    report: bool = True,
    unseen: Collection[str] | None = None,
) -> dict[str, float]:
    """Bring every step up to the stage ``upto`` up to date (``report=False``: a multirun job, whose report is
    written once after the sweep); returns the seconds each stage took. ``unseen``: the stages whose content
    planning could not see (what :func:`asc.pipeline.plan.check_plan` returned; None: asked now)."""
    ctx = Context(cfg, store_of=STORE_OF, results_label=results_label, write_report=report)
    grouped, seconds = by_stage(steps), {}
    chain = CHAIN[: STAGES.index(upto) + 1]
    if unseen is None:
        unseen = {stage.name for stage in chain if not stage.ready(cfg)}
    wanted = [s for stage in chain for s in grouped[stage.name] if stage.name != "report" or report]
    progress = ctx.progress = JobProgress(wanted, cfg, device=ctx.device.type)
    log.info("%s", progress.start_line())
    with Heartbeat(progress.status, enabled=not show_progress(cfg["runtime"]["progress"])):
        for i, stage in enumerate(chain):
            if not grouped[stage.name]:
                continue
            start = time.perf_counter()
            progress.begin(stage.name)
            stage.run(grouped[stage.name], ctx)
            if stage.name in unseen:  # planning could not see this content: check it now, before it is used
                log.info("stage %s: its content now exists; checking it as planning would have", stage.name)
                for later in chain[i + 1 :]:
                    later.check(grouped[later.name], cfg)
            seconds[stage.name] = time.perf_counter() - start
            progress.end(stage.name, seconds[stage.name])
            log.info(
                "stage %s: %d step(s) up to date in %.1f s",
                stage.name,
                len(grouped[stage.name]),
                seconds[stage.name],
            )
    log.info("stage times: %s", ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
    return seconds
