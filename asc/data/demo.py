"""Synthetic demo dataset in the real TAU Urban Acoustic Scenes 2020 Mobile layout.

The real set (27 GB) cannot be fetched everywhere, so the pipeline runs end to end on this one by default. It is
built to exercise what matters for the paper: ten scene classes that a CNN can learn from log-mel energies but not
perfectly, recording locations that perturb the class templates (so a location-grouped validation split is
harder than a random one), and devices with different frequency responses (one of them, s4, unseen in training).

Each scene has a spectral envelope (a tilt plus three log-frequency bumps), an event texture (band-limited bursts
at a Poisson rate with exponential decay) and up to two tones; four scenes are close variations of another one
(tram of bus, metro of metro_station, ...), as confusable as real ones. A location jitters all of those; each clip
mixes in a little of another scene's envelope and noise, a share of clips ("atypical") sounds like another scene
altogether, and every clip goes through its device's response. The baseline lands near 50 %, like the real one. Everything is drawn from
``numpy.random.default_rng([seed, ...])`` keyed by names and clip numbers, so the output is byte-identical for a
seed whatever the number of worker processes.

The 1-s variant (``recording_seconds: 10`` with ``clip_seconds: 1``, conf/dataset/demo1s.yaml) renders the same
10-s recordings and cuts each into ten 1-s files named as TAU 2022 names them (asc/data/tau2022.py), piece k
holding samples [k·sr, (k+1)·sr): the DCASE 2022 layout at demo size. Without ``recording_seconds`` every
clip is one file of ``clip_seconds``, byte for byte as before.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from asc.core.atomic import atomic_path
from asc.core.errors import ConfigError
from asc.core.process import die_with_parent
from asc.core.progress import progress_bar, show_progress
from asc.data import tau, tau2022
from asc.data.tau import SCENES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    filename: str
    scene: str
    city: str
    location: int
    segment: int
    device: str
    split: str  # train | evaluate (the official fold names)


def pieces(cfg: Mapping[str, Any]) -> int:
    """Files per rendered recording: recording_seconds / clip_seconds (1 without ``recording_seconds``)."""
    rec = cfg.get("recording_seconds")
    if rec is None:
        return 1
    n = float(rec) / float(cfg["clip_seconds"])
    if n < 1 or abs(n - round(n)) > 1e-9 or round(n) > tau2022.PIECES:
        raise ConfigError(
            f"dataset.recording_seconds={rec} must be 1 to {tau2022.PIECES} times dataset.clip_seconds="
            f"{cfg['clip_seconds']}"
        )
    return int(round(n))


def file_names(clip: Clip, n: int) -> list[str]:
    """The files of one rendered recording: itself, or its n pieces in TAU 2022 naming."""
    return [clip.filename] if n == 1 else [tau2022.piece_name(clip.filename, k) for k in range(n)]


def _name_seed(*names: str) -> list[int]:
    return [zlib.crc32(n.encode()) for n in names]


def plan_clips(cfg: Mapping[str, Any]) -> list[Clip]:
    """Every clip of the demo set, in a deterministic order."""
    clips: list[Clip] = []
    location_id, segment_id = 1000, 0
    other_train = [d for d in cfg["train_devices"] if d != "a"] or ["a"]
    for split, n_loc, devices in (
        ("train", cfg["train_locations"], None),
        ("evaluate", cfg["evaluate_locations"], list(cfg["evaluate_devices"])),
    ):
        for scene in SCENES:
            for city in cfg["cities"]:
                for _ in range(int(n_loc)):
                    location_id += 1
                    for _ in range(int(cfg["segments_per_location"])):
                        segment_id += 10
                        # Like TAU: device a records everything; the others record some segments in parallel.
                        devs = devices or ["a", other_train[segment_id // 10 % len(other_train)]]
                        for dev in dict.fromkeys(devs):
                            name = f"audio/{scene}-{city}-{location_id}-{segment_id}-{dev}.wav"
                            clips.append(Clip(name, scene, city, location_id, segment_id, dev, split))
    return clips


def fold_table(cfg: Mapping[str, Any]) -> pd.DataFrame:
    """The demo's folds as :func:`asc.data.tau.read_folds` reads them back from its metadata (filename, scene,
    city, location = ``<city>-<id>``, device, split = train | evaluate), every piece of a recording cut into
    several files (the 1-s variant), from the config alone."""
    n = pieces(cfg)
    return pd.DataFrame(
        [
            (f, c.scene, c.city, f"{c.city}-{c.location}", c.device, c.split)
            for c in plan_clips(cfg)
            for f in file_names(c, n)
        ],
        columns=["filename", "scene", "city", "location", "device", "split"],
    )


# Scene -> the scene whose template it is a variation of (tram sounds like bus, metro like metro_station, ...).
SIBLINGS = {
    "tram": "bus",
    "metro": "metro_station",
    "street_pedestrian": "public_square",
    "shopping_mall": "airport",
}


class Synthesiser:
    """Draws class templates, location jitter and device responses; renders one clip at a time."""

    def __init__(self, cfg: Mapping[str, Any]):
        self.seed = int(cfg["seed"])
        self.sr = int(cfg["sample_rate"])
        self.n = int(round(cfg.get("recording_seconds", cfg["clip_seconds"]) * self.sr))
        self.difficulty = float(cfg["difficulty"])
        self.atypical = float(cfg.get("atypical", 0.0))
        self.freqs = np.fft.rfftfreq(self.n, 1 / self.sr)
        self.log_f = np.log2(np.maximum(self.freqs, 20.0) / 1000.0)  # octaves re 1 kHz

    def _rng(self, *names: str | int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *_name_seed(*map(str, names))])

    def scene_params(self, scene: str, location: int | None = None) -> dict[str, Any]:
        # Confusable pairs, as in real ASC: a sibling scene starts from its partner's template (tones and event
        # texture included) and differs by a shift smaller than the location jitter, so it is learnable only
        # in part and the demo baseline plateaus well below 100 %.
        partner = SIBLINGS.get(scene, scene)
        rng = self._rng("scene", partner)
        p = {
            "tilt": rng.uniform(-4.0, 1.0),  # dB per octave
            "centres": rng.uniform(np.log2(0.1), np.log2(12.0), 3),  # octaves re 1 kHz
            "widths": rng.uniform(0.25, 1.0, 3),
            "gains": rng.uniform(8.0, 22.0, 3),
            "event_rate": rng.uniform(0.3, 6.0),
            "event_decay": rng.uniform(0.02, 0.4),
            "event_centre": rng.uniform(np.log2(0.3), np.log2(8.0)),
            "event_level": rng.uniform(0.5, 2.0),
            "tones": rng.uniform(80.0, 3000.0, rng.integers(0, 3)),
        }
        if partner != scene:
            k = self._rng("sibling", scene)
            p["tilt"] += k.choice([-1, 1]) * 0.3
            p["centres"] = p["centres"] + k.normal(0, 0.08, 3)
            p["gains"] = p["gains"] + k.choice([-1, 1], 3) * 0.8
            p["event_rate"] *= np.exp(k.choice([-1, 1]) * 0.15)
        if location is not None:  # a location shifts the template: what location-grouped splits test
            j = self._rng("location", location)
            d = self.difficulty
            p["tilt"] += j.normal(0, 1.0 * d)
            p["centres"] = p["centres"] + j.normal(0, 0.35 * d, 3)
            p["gains"] = p["gains"] + j.normal(0, 4.0 * d, 3)
            p["event_rate"] *= np.exp(j.normal(0, 0.4 * d))
            p["tones"] = p["tones"] * np.exp(j.normal(0, 0.05 * d, len(p["tones"])))
        return p

    def envelope_db(self, p: Mapping[str, Any]) -> np.ndarray:
        env = p["tilt"] * self.log_f
        for c, w, g in zip(p["centres"], p["widths"], p["gains"], strict=True):
            env = env + g * np.exp(-0.5 * ((self.log_f - c) / w) ** 2)
        return env

    def device_response(self, device: str) -> np.ndarray:
        """Magnitude response: flat for the reference device a, a smooth random curve with band limits otherwise."""
        if device == "a":
            return np.ones_like(self.freqs)
        rng = np.random.default_rng(
            _name_seed("device", device)
        )  # the same device everywhere, whatever the seed
        knots = np.linspace(self.log_f[1], self.log_f[-1], 8)
        curve_db = np.interp(self.log_f, knots, rng.uniform(-9.0, 9.0, knots.size))
        low, high = rng.uniform(80.0, 600.0), rng.uniform(4000.0, 14000.0)
        f = np.maximum(self.freqs, 1.0)
        band = 1.0 / np.sqrt(1 + (low / f) ** 4) / np.sqrt(1 + (f / high) ** 6)
        return band * 10 ** (curve_db / 20)

    def _coloured_noise(self, rng: np.random.Generator, magnitude: np.ndarray) -> np.ndarray:
        spec = (rng.standard_normal(self.freqs.size) + 1j * rng.standard_normal(self.freqs.size)) * magnitude
        spec[0] = 0.0
        return np.fft.irfft(spec, self.n)

    def render(self, clip: Clip) -> np.ndarray:
        rng = self._rng("clip", clip.filename)
        k = SCENES.index(clip.scene)
        # An atypical clip sounds like another scene (a bus passing a park): no model gets it right, so the
        # baseline's accuracy stays well below 100 % however long it trains.
        sounds_like = (
            SCENES[(k + rng.integers(1, len(SCENES))) % len(SCENES)]
            if rng.random() < self.atypical
            else clip.scene
        )
        p = self.scene_params(sounds_like, clip.location)
        other = self.scene_params(SCENES[(k + rng.integers(1, len(SCENES))) % len(SCENES)])
        h = self.device_response(clip.device)
        d = self.difficulty
        # Stationary part: the scene texture, a share of another scene and broadband noise are independent
        # Gaussian noises, so their powers add and one inverse FFT draws them all.
        power = 10 ** (self.envelope_db(p) / 10)
        power = power + 10 ** (rng.uniform(-9, -3) * d / 10) * 10 ** (self.envelope_db(other) / 10) * (d > 0)
        power = power + power.mean() * 10 ** (rng.uniform(-25, -12) / 10) * d
        x = self._coloured_noise(rng, np.sqrt(power) * h)
        x /= x.std() + 1e-12
        # Events: band-limited noise under a train of exponentially decaying bursts.
        t = np.arange(self.n) / self.sr
        n_events = rng.poisson(p["event_rate"] * self.n / self.sr)
        bursts = np.zeros(self.n)
        tail = np.exp(-np.arange(int(8 * p["event_decay"] * self.sr)) / (p["event_decay"] * self.sr))
        for onset in rng.uniform(0, self.n, n_events).astype(int):
            k = min(tail.size, self.n - onset)
            bursts[onset : onset + k] += rng.uniform(0.5, 1.5) * tail[:k]
        if n_events:
            band = np.exp(-0.5 * ((self.log_f - p["event_centre"]) / 0.5) ** 2)
            ev = self._coloured_noise(rng, band * h)
            x += p["event_level"] * bursts * ev / (ev.std() + 1e-12)
        # Tones pass through the device as pure tones do: scaled by its gain at that frequency.
        for f0 in p["tones"]:
            gain = np.interp(f0, self.freqs, h)
            am = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
            x += 0.3 * gain * am * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
        x *= 0.05 * rng.uniform(0.5, 2.0) / (x.std() + 1e-12)
        return np.clip(x, -0.99, 0.99)


_SYNTH: dict[str, Synthesiser] = {}  # one per worker process and config: the frequency grids are reused


def _render_and_write(args: tuple[dict[str, Any], Clip, str]) -> None:
    cfg, clip, root = args
    cache_key = repr(sorted(cfg.items()))
    synth = _SYNTH.get(cache_key) or _SYNTH.setdefault(cache_key, Synthesiser(cfg))
    names = file_names(clip, pieces(cfg))
    audio = synth.render(clip)
    step = len(audio) // len(names)
    for k, name in enumerate(names):
        with atomic_path(Path(root) / name) as tmp:  # resuming skips finished files: never half a WAV
            sf.write(
                tmp, audio[k * step : (k + 1) * step], int(cfg["sample_rate"]), subtype="PCM_24", format="WAV"
            )


def _complete(path: Path, frames: int) -> bool:
    """A clip written by an earlier run: present and of the right length (anything else is rendered again)."""
    try:
        return sf.info(str(path)).frames == frames
    except (RuntimeError, OSError):  # soundfile's errors are RuntimeErrors
        return False


def generate(cfg: Mapping[str, Any], root: Path, progress: bool | None = None) -> dict[str, Any]:
    """Write the demo set into ``root`` (audio/, meta.csv, evaluation_setup/). Returns counts for the manifest."""
    cfg = dict(cfg)
    unknown = set(cfg["train_devices"]) - set(cfg["evaluate_devices"])
    if "a" not in cfg["train_devices"]:
        raise ValueError(
            f"dataset.train_devices={cfg['train_devices']} must include the reference device 'a'"
        )
    if unknown:
        raise ValueError(f"dataset.train_devices {sorted(unknown)} are missing from dataset.evaluate_devices")
    clips = plan_clips(cfg)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "evaluation_setup").mkdir(exist_ok=True)
    # Resume an interrupted generation: drop the temporary files of clips a killed run left unfinished, and
    # render what is missing or not a complete clip.
    for stale in (root / "audio").glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    frames, n = int(round(cfg["clip_seconds"] * int(cfg["sample_rate"]))), pieces(cfg)
    todo = [c for c in clips if not all(_complete(root / f, frames) for f in file_names(c, n))]
    jobs = [(cfg, c, str(root)) for c in todo]
    show = show_progress(progress)
    workers = max(1, int(cfg.get("workers", 1)))
    with progress_bar(total=len(jobs), desc="demo audio", unit="clip", show=show) as bar:
        if workers == 1:
            for job in jobs:
                _render_and_write(job)
                bar.update()
        else:
            with ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
                for _ in pool.map(_render_and_write, jobs, chunksize=8):
                    bar.update()
    tau.write_metadata(root, fold_table(cfg))
    train = [c for c in clips if c.split == "train"]
    evaluate = [c for c in clips if c.split == "evaluate"]
    if n > 1:  # the 1-s variant carries split files in the DCASE 2024 format, as tau2022mobile does
        rows = pd.DataFrame(
            [(c.filename, c.scene, c.device) for c in train], columns=["filename", "scene", "device"]
        )
        tau2022.write_splits(rows, root / "split_setup", seed=int(cfg["seed"]))
    log.info("demo dataset: %d train + %d evaluate clips in %s", n * len(train), n * len(evaluate), root)
    return {"clips": n * len(clips), "train": n * len(train), "evaluate": n * len(evaluate)}
