"""One artifact of a job: its stage, its key, and everything its build reads.

A :class:`Step` is planned from the config alone (asc/pipeline/plan.py) and carries what its build needs as explicit
inputs: its upstream steps (the artifacts it reads) and ``args`` (values the build needs besides the keyed
config, e.g. a user file's path whose content is keyed). Facts travel downstream through these, never through
the results table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asc.pipeline.store import config_key


@dataclass(frozen=True, eq=False)
class Step:
    """``stage/key`` and what it hashes: ``config`` plus the keys of ``upstream`` (in order)."""

    stage: str
    key: str
    label: str
    config: Mapping[str, Any]
    upstream: tuple[Step, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.key}"

    def up(self, stage: str) -> Step:
        """The upstream step of ``stage`` (each step reads at most one artifact of a stage)."""
        for step in self.upstream:
            if step.stage == stage:
                return step
        raise KeyError(f"{self.id} reads no {stage} artifact")

    def origin(self, stage: str) -> Step | None:
        """The step of ``stage`` this one is built from, at any depth upstream (itself if of ``stage``)."""
        if self.stage == stage:
            return self
        return next((found for u in self.upstream if (found := u.origin(stage)) is not None), None)


def make_step(stage: str, label: str, config: Any, upstream: tuple[Step, ...] = (), **args: Any) -> Step:
    """A step keyed by ``config`` and its upstream keys (asc/pipeline/store.py ``config_key``)."""
    key = config_key(stage, config, [u.key for u in upstream])
    return Step(stage, key, label, config, tuple(upstream), args)


def schedule_finetune(step: Step) -> Mapping[str, Any] | None:
    """The short fine-tuning an iterative-pruning schedule step runs before its cut (steps 2…k: the recipe with
    ``epochs``, ``train_on``, ``fraction``), or None (any other step)."""
    if step.stage != "prune":
        return None
    return (step.config.get("schedule") or {}).get("finetune")
