"""How long a job takes: each stage's measured rate (seconds per unit of work), kept per machine in
``<paths.store>/rates.json`` after every run, projects a plan's duration (the dry run) and the ETA of a running
job (its k/N lines and the heartbeat).

A unit is what a stage's time grows with: a training example seen once (example-epochs, estimated as the dry run
estimates examples: asc.plan.approx_examples_per_epoch × the recipe's epochs) for train and finetune, a clip for
features (fold1_train's clips, as the dataset's kind counts them), an artifact for every other stage. Rates are
kept under what they depend on: training rates under the model, the features and the device (so a demo run's
rate projects the real dataset's grid on the same machine), the other stages' under the dataset and the device;
a training stage without its own rate takes the other training stage's. Without a measured rate the training
stages fall back on :data:`BENCHMARK` (README "Performance"); a stage with neither is left out of the
projection, and said so.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.progress import duration
from asc.step import Step

log = logging.getLogger(__name__)

RATES_FILE = "rates.json"
TRAINING = ("train", "finetune")
# Seconds per example-epoch of the baseline CNN (40 x 500 log-mel) where this machine measured nothing: README
# "Performance": ~100 training examples/s through train_many on the 2-core CPU it was built on (M = 1), 4,362/s
# on one NVIDIA H200 (fp32, CUDA graphs). Evaluation is not included.
BENCHMARK = {"cpu": 1 / 100, "cuda": 1 / 4362}
BENCHMARK_SOURCE = (
    'the benchmark\'s figures (README "Performance": 100 examples/s on 2 CPU cores, 4,362 on an H200)'
)


def units_of(cfg: Mapping[str, Any]) -> Callable[[Step], float]:
    """The work of a step in its stage's unit (see the module docstring)."""
    from asc.plan import approx_examples_per_epoch

    approx = approx_examples_per_epoch(cfg)
    clips = _clips(cfg["dataset"])

    def units(step: Step) -> float:
        if step.stage in TRAINING:
            try:
                return float(approx(step) * int(cfg[step.stage]["epochs"]))
            except (KeyError, TypeError, ValueError):
                return 1.0
        if step.stage == "features":
            return float(clips or 1)
        return 1.0

    return units


def _clips(d: Mapping[str, Any]) -> int:
    """The features stage's unit count: fold1_train's clips (as the dataset's kind estimates them before the
    index exists); the evaluation fold grows with it."""
    from asc.data.kinds import kind_of

    return int(kind_of(d).train_clips(d))


def rate_key(stage: str, cfg: Mapping[str, Any], device: str) -> str:
    if stage in TRAINING:
        return f"{stage}|{cfg['model'].get('name', '?')}|{cfg['features'].get('name', '?')}|{device}"
    if stage == "features":
        return f"features|{cfg['features'].get('name', '?')}|{device}"
    return f"{stage}|{cfg['dataset']['name']}|{device}"


def _rates_path(cfg: Mapping[str, Any]) -> Path:
    return Path(cfg["paths"]["store"]) / RATES_FILE


def load_rates(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``{"device": last device, "rates": {key: {"s_per_unit", "host", "when"}}}``; empty when none or unreadable."""
    try:
        data = json.loads(_rates_path(cfg).read_text())
        return data if isinstance(data, dict) and isinstance(data.get("rates"), dict) else {"rates": {}}
    except (OSError, ValueError):
        return {"rates": {}}


def save_rates(cfg: Mapping[str, Any], device: str, measured: Mapping[str, float]) -> None:
    """Merge this run's rates (stage → seconds per unit) into rates.json (atomically; a failure only logs)."""
    from asc.atomic import atomic_write_text

    data = load_rates(cfg)
    when, host = time.strftime("%Y-%m-%d %H:%M"), socket.gethostname()
    for stage, rate in measured.items():
        data["rates"][rate_key(stage, cfg, device)] = {"s_per_unit": rate, "host": host, "when": when}
    data["device"] = device
    try:
        _rates_path(cfg).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_rates_path(cfg), json.dumps(data, indent=1, sort_keys=True))
    except OSError as err:
        log.warning("could not record the measured rates in %s: %s", _rates_path(cfg), err)


def planned_device(cfg: Mapping[str, Any], rates: Mapping[str, Any]) -> str:
    """The device a job will train on, without importing torch: runtime.device, or for ``auto`` the one the last
    run on this store resolved it to (else cpu)."""
    asked = str(cfg["runtime"]["device"])
    return asked if asked in ("cpu", "cuda") else str(rates.get("device") or "cpu")


class Projection:
    """Seconds per step from the best known rate: this run's, else rates.json's, else :data:`BENCHMARK`."""

    def __init__(self, cfg: Mapping[str, Any], device: str | None = None):
        self.cfg, self.stored = cfg, load_rates(cfg)
        self.device = device or planned_device(cfg, self.stored)
        self.units = units_of(cfg)
        self.measured: dict[str, float] = {}  # this run: stage -> seconds per unit

    def rate(self, stage: str) -> tuple[float | None, str]:
        """(seconds per unit, where it comes from: "this run" | "measured" | "benchmark"), or (None, "")."""
        if stage in self.measured:
            return self.measured[stage], "this run"
        entry = self.stored["rates"].get(rate_key(stage, self.cfg, self.device))
        if entry:
            return float(entry["s_per_unit"]), "measured"
        if stage in TRAINING:  # the other training stage's rate: the same network family per example-epoch
            (other,) = (t for t in TRAINING if t != stage)
            entry = self.stored["rates"].get(rate_key(other, self.cfg, self.device))
            if entry:
                return float(entry["s_per_unit"]), "measured"
        if stage in TRAINING and self.device in BENCHMARK:
            return BENCHMARK[self.device], "benchmark"
        return None, ""

    def seconds(self, steps: Sequence[Step]) -> tuple[float, dict[str, str], list[str]]:
        """(projected seconds of ``steps``, stage → source of its rate, stages without a rate)."""
        total, sources, unknown = 0.0, {}, []
        for step in steps:
            rate, source = self.rate(step.stage)
            if rate is None:
                unknown += [step.stage] if step.stage not in unknown else []
                continue
            total += rate * self.units(step)
            sources[step.stage] = source
        return total, sources, unknown

    def describe(self, steps: Sequence[Step]) -> str:
        """``projected 3 min 40 s (… from …; … not projected: …)`` for the dry run and the job's start line."""
        total, sources, unknown = self.seconds(steps)
        said = {
            "this run": "this run",
            "measured": f"rates this machine measured before ({_rates_path(self.cfg)})",
            "benchmark": BENCHMARK_SOURCE,
        }
        parts = []
        for source in ("this run", "measured", "benchmark"):
            stages = [s for s, src in sources.items() if src == source]
            if stages:
                parts.append(f"{', '.join(stages)} from {said[source]}")
        if unknown:
            parts.append(f"{', '.join(unknown)} not projected (no rate measured on {self.device} yet)")
        head = f"projected {duration(total)} on {self.device}" if sources else "no projection"
        return f"{head}: {'; '.join(parts)}" if parts else head
