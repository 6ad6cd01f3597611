"""A running job's progress in its log: a start line (what will be built, per stage, and the projected time), one
line per finished artifact with k/N and an ETA from measured rates (asc/pipeline/eta.py; an iterative-pruning schedule
step's short fine-tuning counted at the finetune rate and named in the start line), and the status the heartbeat
(asc/core/progress.py) logs when a long step keeps the log silent. After each stage its measured rate goes into
``<paths.store>/rates.json`` for the next dry run and ETA.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.progress import duration
from asc.pipeline.chain import CHAIN, STORE_OF
from asc.pipeline.eta import Projection, save_rates, tuned_count
from asc.pipeline.plan import is_built
from asc.pipeline.step import Step

log = logging.getLogger("asc.core.progress")
STAGE = {stage.name: stage for stage in CHAIN}


class JobProgress:
    """``steps``: the plan's steps up to the stage the job stops at; ``device``: where it trains (cpu, cuda)."""

    def __init__(self, steps: Sequence[Step], cfg: Mapping[str, Any], *, device: str):
        self.cfg, self.device = cfg, device
        self.steps = list(steps)
        self.todo = [s for s in self.steps if not STORE_OF[s.stage] or not is_built(cfg, s)]
        # nothing left but stages without a store (the report): those up to date now are cached too
        if all(not STORE_OF[s.stage] for s in self.todo):
            self.todo = [s for s in self.todo if not STAGE[s.stage].current([s], cfg)]
        self.untimed: set[str] = set()  # steps found up to date while their stage ran: not in its rate
        self.todo_ids = {s.id for s in self.todo}
        self.projection = Projection(cfg, device)
        self.done: set[str] = set()
        self.begun = self.last = time.monotonic()
        self.stage, self.stage_begun, self.stage_units, self.stage_tuning = "", self.begun, 0.0, 0.0

    def start_line(self) -> str:
        per = Counter(s.stage for s in self.todo)
        built = ", ".join(f"{stage} {n}{_tuned(self.todo, stage)}" for stage, n in per.items())
        cached = len(self.steps) - len(self.todo)
        what = (
            f"{len(self.todo)} of {len(self.steps)} steps ({cached} cached): {built}"
            if self.todo
            else "nothing"
        )
        return f"to build: {what}; {self.projection.describe(self.todo)}"

    def begin(self, stage: str) -> None:
        self.stage, self.stage_begun, self.stage_units, self.stage_tuning = stage, time.monotonic(), 0.0, 0.0

    def finished(self, step: Step, how: str = "built", *, timed: bool = True) -> None:
        """One artifact of the plan is there (built, or built by another job meanwhile): its k/N line.
        ``timed=False``: nothing was built (found up to date), so the stage's rate leaves it out."""
        if step.id not in self.todo_ids or step.id in self.done:
            return
        self.done.add(step.id)
        if not timed:
            self.untimed.add(step.id)
        now = time.monotonic()
        self.stage_units += self.projection.units(step)
        # a schedule step's short fine-tuning is training, not pruning: its projection is not the prune rate's
        self.stage_tuning += self.projection.tuning_seconds(step)
        spent = max(now - self.stage_begun - self.stage_tuning, 0.0)
        self.projection.measured[step.stage] = spent / max(self.stage_units, 1e-9)
        self.last = now
        log.info(
            "[%d/%d] %s %s %s %s; %s elapsed, %s",
            len(self.done),
            len(self.todo),
            how,
            step.stage,
            step.key,
            step.label,
            duration(now - self.begun),
            self.eta(),
        )

    def end(self, stage: str, seconds: float) -> None:
        """The stage is done: its steps that built nothing through the store (the report) count as finished, and
        its rate (seconds per unit over the steps this run built, less their schedule fine-tunings' projection)
        is recorded."""
        for step in self.todo:
            if step.stage == stage and step.id not in self.done:
                self.finished(step, "done:" if not STORE_OF[stage] else "up to date:")
        mine = [s for s in self.todo if s.stage == stage and s.id not in self.untimed]
        units = sum(self.projection.units(s) for s in mine)
        if units:
            spent = max(seconds - sum(self.projection.tuning_seconds(s) for s in mine), 0.0)
            self.projection.measured[stage] = spent / units
            save_rates(self.cfg, self.device, {stage: spent / units})

    def eta(self) -> str:
        """``ETA 2 min 10 s`` for what is left (the current stage's steps less the time they have run), or, when the
        current stage runs past its projection, by how much and what the later stages need; and the stages without a
        rate."""
        left = [s for s in self.todo if s.id not in self.done]
        if not left:
            return "ETA 0 s (done)"
        here = [s for s in left if s.stage == self.stage]
        later, _, unknown = self.projection.seconds([s for s in left if s.stage != self.stage])
        current, _, unknown_here = self.projection.seconds(here)
        current -= time.monotonic() - self.last
        text = f"ETA {duration(later + max(current, 0.0))}"
        if here and current < 0 and not unknown_here:  # overrun: say by how much, not "ETA > 0 s"
            after = f", then {duration(later)} for the stages after it" if later > 0 else ""
            text = (
                f"ETA unknown: stage {self.stage} runs {duration(-current)} past its projection with "
                f"{len(here)} step(s) left in it{after}"
            )
        unknown = list(dict.fromkeys(unknown_here + unknown))
        return f"{text} + {', '.join(unknown)} (no rate measured yet)" if unknown else text

    def status(self) -> str:
        """What the heartbeat logs: the stage under way, k/N, time elapsed and the ETA."""
        now = time.monotonic()
        return (
            f"working: stage {self.stage} ({duration(now - self.stage_begun)} in it), "
            f"{len(self.done)}/{len(self.todo)} steps done, {duration(now - self.begun)} elapsed, {self.eta()}"
        )


def _tuned(steps: Sequence[Step], stage: str) -> str:
    """`` (3 after a short fine-tune)``: the schedule steps among ``steps``' ``stage`` steps, else ``""``."""
    n = tuned_count(steps, stage)
    return f" ({n} after a short fine-tune)" if n else ""
