"""How long a job takes: each stage's measured rate (seconds per unit of work), kept per machine in
``<paths.store>/rates.json`` after every run, projects a plan's duration (the dry run) and the ETA of a running
job (its k/N lines and the heartbeat).

A unit is what a stage's time grows with: a training example seen once (example-epochs, estimated as the dry run
estimates examples: asc.pipeline.plan.approx_examples_per_epoch × the recipe's epochs) for the :data:`TRAINING`
stages (train, finetune, and perdevice: its device models see the fine-tuned subset's clips, each by its device's
model, for the perdevice recipe's epochs), a clip (fold1_train's clips, as the dataset's kind counts them) for
features and for the stages that run a network over the dataset's clips (:data:`PER_CLIP`: teacher logits,
quantised evaluation), an artifact for every other stage. Each rate is kept with its unit (:func:`unit_of`); a rate
kept in another unit (per-device training was measured per clip before) is not used. An iterative-pruning schedule step (asc/pipeline/stages/prune_schedule.py) that fine-tunes before
its cut is a prune artifact plus that short fine-tuning's example-epochs (:func:`tuned_units`) at the finetune
stage's rate; the prune rate measured on such steps is what is left of their time after that projection. Rates are kept under what the work per unit depends on, so that they carry over to any
dataset whose work has the same shape: training rates and :data:`SHAPED` stages' under the model, the features
and the device (a demo run's rates project the real dataset's grid on the same machine), the features' under
the front end and the device; only :data:`PER_DATASET` stages (generating or downloading, indexing, the report)
under the dataset, since their work is the dataset's own — the dry run says when such a rate exists only for
another dataset. A training stage without its own rate takes another training stage's (:data:`SIBLINGS`). Without a measured
rate the training stages fall back on :data:`BENCHMARK` (README "Performance"), scaled by the job's network's
MACs per clip over the benchmark CNN's (:func:`clip_macs`); a stage with neither is left
out of the projection, and said so.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.progress import duration
from asc.pipeline.step import Step, schedule_finetune

log = logging.getLogger(__name__)

RATES_FILE = "rates.json"
TRAINING = (
    "train",
    "finetune",
    "perdevice",
)  # seconds per example-epoch; the benchmark projects them unmeasured
# a training stage without a rate of its own takes the first of these that has one (the closest network first)
SIBLINGS = {
    "train": ("finetune", "perdevice"),
    "finetune": ("train", "perdevice"),
    "perdevice": ("finetune", "train"),
}
PER_CLIP = ("teacher", "quantise")  # a network run over the dataset's clips: seconds per clip
SHAPED = ("prune", *PER_CLIP)  # work per unit fixed by the network and its input: kept per model and features
REUNITED = (
    "perdevice",
)  # stages whose rates.json entries without a unit were kept in another unit (per clip)
PER_DATASET = ("dataset", "index", "report")  # the dataset's own work: kept per dataset
# Seconds per example-epoch of the baseline CNN (40 x 500 log-mel) where this machine measured nothing: README
# "Performance": ~100 training examples/s through train_many on the 2-core CPU it was built on (M = 1), 4,362/s
# on one NVIDIA H200 (fp32, CUDA graphs). Evaluation is not included.
BENCHMARK = {"cpu": 1 / 100, "cuda": 1 / 4362}
BENCHMARK_MACS = (
    286_637_800  # that CNN's MACs per clip (asc.prune.budget.dcase_cost of the DCASE 2021 default)
)
BENCHMARK_SOURCE = (
    'the benchmark\'s figures (README "Performance": 100 examples/s on 2 CPU cores, 4,362 on an H200)'
)


def units_of(cfg: Mapping[str, Any]) -> Callable[[Step], float]:
    """The work of a step in its stage's unit (see the module docstring)."""
    from asc.pipeline.plan import approx_examples_per_epoch
    from asc.pipeline.stages.index import approx_fold_clips

    approx = approx_examples_per_epoch(cfg)
    clips = approx_fold_clips(cfg)

    def units(step: Step) -> float:
        if step.stage in TRAINING:
            try:
                return float(approx(step) * int(cfg[step.stage]["epochs"]))
            except (KeyError, TypeError, ValueError):
                return 1.0
        if step.stage == "features" or step.stage in PER_CLIP:
            return float(clips or 1)
        return 1.0

    return units


def unit_of(stage: str) -> str:
    """The unit a stage's rate is kept in (see the module docstring): example-epoch, clip or artifact."""
    if stage in TRAINING:
        return "example-epoch"
    return "clip" if stage == "features" or stage in PER_CLIP else "artifact"


def tuned_count(steps: Sequence[Step], stage: str) -> int:
    """How many of ``steps``' ``stage`` steps fine-tune before their cut (:func:`schedule_finetune`): training
    runs a job has besides its finetune stage's."""
    return sum(1 for s in steps if s.stage == stage and schedule_finetune(s) is not None)


def tuned_units(cfg: Mapping[str, Any]) -> Callable[[Step], float]:
    """Example-epochs of a schedule step's short fine-tuning (:func:`schedule_finetune`; 0 for any other step):
    its pool's clips (estimated before the index exists, as the dry run does) × its ``fraction`` × ``epochs``."""
    from asc.pipeline.plan import approx_train_examples

    pools: dict[str, int] = {}

    def units(step: Step) -> float:
        tune = schedule_finetune(step)
        if tune is None:
            return 0.0
        on = str(tune["train_on"])
        if on not in pools:
            pools[on] = approx_train_examples(dict(cfg, finetune={**cfg["finetune"], "train_on": on}))
        return float(round(pools[on] * float(tune["fraction"])) * int(tune["epochs"]))

    return units


def clip_macs(cfg: Mapping[str, Any]) -> int | None:
    """MACs of one forward pass over a clip of the job's network (the front end excluded): by its family's
    torch-free formula where it has one (asc/nets/counts.py: the DCASE family, VGGish_Net), any other network's
    counted on its input shape (built on torch's meta device where it can be, so nothing is computed); None
    (logged) where it cannot be counted."""
    from asc.pipeline.stages.baseline import planned_counts

    counted = planned_counts(cfg)
    if counted:
        return int(counted["macs"])
    from asc.nets import build
    from asc.nets.cost import network_macs
    from asc.nets.families import input_shape_of
    from asc.pipeline.stages.baseline import planned_network

    shape = input_shape_of(cfg["model"], cfg["features"])
    # the disk estimate's network (stages/baseline.py: on the meta device, cached), else one on the CPU
    for make in (planned_network, build):
        try:
            return network_macs(make(cfg["model"]), shape)
        except Exception as err:  # noqa: BLE001 - an estimate only: the projection goes on unscaled
            failure = err
    log.warning("the projection does not scale the benchmark to model=%s: %s", cfg["model"]["name"], failure)
    return None


def rate_key(stage: str, cfg: Mapping[str, Any], device: str) -> str:
    """Where a stage's rate is kept in rates.json: ``stage|model|features|device`` for training and
    :data:`SHAPED` stages, ``features|front end|device``, ``stage|dataset|device`` for :data:`PER_DATASET`."""
    if stage in TRAINING or stage in SHAPED:
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
    from asc.core.atomic import atomic_write_text

    data = load_rates(cfg)
    when, host = time.strftime("%Y-%m-%d %H:%M"), socket.gethostname()
    for stage, rate in measured.items():
        entry = {"s_per_unit": rate, "unit": unit_of(stage), "host": host, "when": when}
        data["rates"][rate_key(stage, cfg, device)] = entry
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
        self.units, self.tuned = units_of(cfg), tuned_units(cfg)
        self.measured: dict[str, float] = {}  # this run: stage -> seconds per unit

    def rate(self, stage: str) -> tuple[float | None, str]:
        """(seconds per unit, where it comes from: "this run" | "measured" | "benchmark"), or (None, "")."""
        if stage in self.measured:
            return self.measured[stage], "this run"
        entry = self._stored(stage)
        if entry:
            return float(entry["s_per_unit"]), "measured"
        for other in SIBLINGS.get(stage, ()):  # another training stage's: the same family per example-epoch
            entry = self._stored(other)
            if entry:
                return float(entry["s_per_unit"]), "measured"
        if stage == "prune":  # a rate kept per dataset before prune rates were kept per shape (same unit)
            entry = self.stored["rates"].get(f"prune|{self.cfg['dataset']['name']}|{self.device}")
            if entry:
                return float(entry["s_per_unit"]), "measured"
        if stage in TRAINING and self.device in BENCHMARK:
            return BENCHMARK[self.device] * self.macs_scale(), "benchmark"
        return None, ""

    def _stored(self, stage: str) -> Mapping[str, Any] | None:
        """rates.json's entry for ``stage`` on this device, when kept in the stage's unit (:func:`unit_of`; an
        entry without one is from before units were kept: its stage's unit then, unless :data:`REUNITED`)."""
        entry = self.stored["rates"].get(rate_key(stage, self.cfg, self.device))
        if not entry:
            return None
        unit = entry.get("unit")
        return entry if unit == unit_of(stage) or (unit is None and stage not in REUNITED) else None

    def macs_scale(self) -> float:
        """The job's network's MACs per clip over the benchmark CNN's (:data:`BENCHMARK_MACS`): the benchmark
        rate scaled to this network, as its time per example-epoch grows with its MACs (on patches too: a clip's
        patches together cost what the clip costs, asc/training/patch_examples.py). 1.0 where it cannot be counted."""
        if not hasattr(self, "_scale"):
            macs = clip_macs(self.cfg)
            self._scale = macs / BENCHMARK_MACS if macs else 1.0
        return self._scale

    def elsewhere(self, stage: str) -> list[str]:
        """The other datasets a :data:`PER_DATASET` stage's rate was measured on, on this device (not reused)."""
        if stage not in PER_DATASET:
            return []
        own = self.cfg["dataset"]["name"]
        keys = [k.split("|") for k in self.stored["rates"]]
        return sorted({k[1] for k in keys if len(k) == 3 and k[0] == stage and k[2] == self.device} - {own})

    def tuning_seconds(self, step: Step) -> float:
        """Projected seconds of a schedule step's short fine-tuning at the finetune rate (0 for other steps, or
        where no finetune rate is known)."""
        units = self.tuned(step)
        rate = self.rate("finetune")[0] if units else None
        return rate * units if rate is not None else 0.0

    def seconds(self, steps: Sequence[Step]) -> tuple[float, dict[str, str], list[str]]:
        """(projected seconds of ``steps``, stage → source of its rate, stages without a rate); a schedule
        step's short fine-tuning counts at the finetune rate (its source listed under finetune)."""
        total, sources, unknown = 0.0, {}, []
        for step in steps:
            parts = [(step.stage, self.units(step))]
            if self.tuned(step):
                parts.append(("finetune", self.tuned(step)))
            for stage, units in parts:
                rate, source = self.rate(stage)
                if rate is None:
                    unknown += [stage] if stage not in unknown else []
                    continue
                total += rate * units
                sources[stage] = source
        return total, sources, unknown

    def _scaled(self) -> str:
        scale = self.macs_scale()
        return (
            f", × {scale:.3g} for model={self.cfg['model']['name']}'s MACs per clip" if scale != 1.0 else ""
        )

    def describe(self, steps: Sequence[Step]) -> str:
        """``projected 3 min 40 s (… from …; … not projected: …)`` for the dry run and the job's start line."""
        total, sources, unknown = self.seconds(steps)
        said = {
            "this run": "this run",
            "measured": f"rates this machine measured before ({_rates_path(self.cfg)})",
            "benchmark": BENCHMARK_SOURCE + self._scaled(),
        }
        parts = []
        for source in ("this run", "measured", "benchmark"):
            stages = [s for s, src in sources.items() if src == source]
            if stages:
                parts.append(f"{', '.join(stages)} from {said[source]}")
        other = {s: self.elsewhere(s) for s in unknown if self.elsewhere(s)}
        fresh = [s for s in unknown if s not in other]
        if fresh:
            parts.append(f"{', '.join(fresh)} not projected (no rate measured on {self.device} yet)")
        if other:
            seen = sorted({d for ds in other.values() for d in ds})
            parts.append(
                f"{', '.join(other)} not projected on {self.cfg['dataset']['name']} (measured on "
                f"{', '.join(seen)} only; their work is the dataset's own, so those rates are not reused)"
            )
        head = f"projected {duration(total)} on {self.device}" if sources else "no projection"
        return f"{head}: {'; '.join(parts)}" if parts else head
