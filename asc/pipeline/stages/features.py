"""Stage ``features``: log-mel arrays per fold (fold1_train, fold1_evaluate) + normalisation statistics.

Key: the front end (``features``) and the dataset's key. Stored per fold rather than per split, so another
validation hold-out (another seed, the official draw) reuses them: on the real set a 30 GB decoding pass saved.
A features-only dataset (the stand-in) renders the same files instead of decoding audio.

Checked before anything is built: the front end itself (Nyquist, window and hop against the clip length at the
rate the features use, after resampling: the error names the key to change, not the audio) and, for a user's
own dataset folder, the rate and length of its first clip against that front end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asc.core.disk import Need, feature_bytes
from asc.core.errors import ConfigError, InputError
from asc.data.kinds import kind_of
from asc.data.layouts import layout_of
from asc.pipeline.stages import dataset, index
from asc.pipeline.step import Step, make_step

if TYPE_CHECKING:
    from asc.pipeline.context import Context


def plan(cfg: Mapping[str, Any], up: Mapping[str, list[Step]]) -> list[Step]:
    (data,) = up["dataset"]
    return [make_step("features", cfg["features"]["name"], cfg["features"], (data,))]


def frames_per_clip(f: Mapping[str, Any], clip_seconds: float) -> int:
    """STFT frames of one clip: 1 + samples // hop centred (librosa and torch.stft with center=True), else
    1 + (samples - n_fft) // hop; pre-emphasis (features.preemphasis) drops one sample."""
    samples = round(clip_seconds * int(f["sample_rate"])) - (1 if f.get("preemphasis") else 0)
    if f.get("center", True):
        return 1 + samples // int(f["hop_length"])
    return 1 + max(samples - int(f["n_fft"]), -int(f["hop_length"])) // int(f["hop_length"])


def check_frontend(f: Mapping[str, Any], clip_seconds: float) -> None:
    """Raise ConfigError naming the features key that cannot work at this rate and clip length."""
    sr, hop, win, n_fft = int(f["sample_rate"]), int(f["hop_length"]), int(f["win_length"]), int(f["n_fft"])
    for key, value in (("hop_length", hop), ("win_length", win), ("n_fft", n_fft), ("n_mels", f["n_mels"])):
        if int(value) < 1:
            raise ConfigError(f"features.{key}={value} is not valid: expected a positive integer")
    if win > n_fft:
        raise ConfigError(
            f"features.win_length={win} is longer than features.n_fft={n_fft}: raise n_fft to >= {win}"
        )
    have, need = frames_per_clip(f, clip_seconds), int(f["stats_frames"])
    if have < need and clip_seconds == 1 and int(f["frames"]) != 51:
        raise ConfigError(
            f"features={f['name']} takes {need} frames, but the dataset's clips last 1 s ({have} frames at this hop): "
            "add features=logmel40x51 model=dcase22 (the DCASE 2022-2025 front end and network)"
        )
    if have > int(f["frames"]) + 1:  # the features would keep the clip's start and drop the rest
        raise ConfigError(
            f"features={f['name']} keeps {f['frames']} frames of the {have} a {clip_seconds:g} s clip gives "
            f"(dataset.clip_seconds): the rest of every clip would be dropped; use the front end and network of "
            "this clip length (10 s: features=logmel40x500 model=dcase21; 1 s: features=logmel40x51 model=dcase22)"
        )
    if have < need:
        # the official hop fits `frames` hops into the clip (882 = 441000 / 500); keep the window/hop ratio
        new_hop = math.floor(round(clip_seconds * sr) / int(f["frames"]))
        new_win = max(1, round(new_hop * win / hop))
        raise ConfigError(
            f"features.hop_length={hop} samples at features.sample_rate={sr} gives {have} frames per "
            f"{clip_seconds:g} s clip (dataset.clip_seconds), fewer than the {need} the features need "
            f"(features.frames / stats_frames): window and hop are in samples, so scale them with the rate, e.g. "
            f"features.hop_length={new_hop} features.win_length={new_win}"
            + (f" features.n_fft={1 << (new_win - 1).bit_length()}" if new_win > n_fft else "")
        )
    nyquist = sr / 2
    if not 0 <= float(f["fmin"]) < float(f["fmax"]) <= nyquist:
        raise ConfigError(
            f"features.fmin={f['fmin']} / features.fmax={f['fmax']} must satisfy 0 <= fmin < fmax <= "
            f"{nyquist:g} (the Nyquist frequency of features.sample_rate={sr}): set features.fmax={nyquist:g}"
        )
    _check_mel_bands(f)


def _check_mel_bands(f: Mapping[str, Any]) -> None:
    """Every mel band must cover at least one FFT bin, else its log-energy is constant and its normalisation
    divides by a zero spread (NaN features). Computed from the band edges alone (asc/frontend/mel_scale.py): planning
    loads neither librosa nor torch."""
    from asc.frontend.mel_scale import empty_bands

    empty = empty_bands(
        sample_rate=int(f["sample_rate"]),
        n_fft=int(f["n_fft"]),
        n_mels=int(f["n_mels"]),
        fmin=float(f["fmin"]),
        fmax=float(f["fmax"]),
        mel_scale=str(f.get("mel_scale", "slaney")),
    )
    if empty.size:
        raise ConfigError(
            f"features.n_mels={f['n_mels']} leaves {empty.size} mel band(s) without an FFT bin (bands "
            f"{empty.tolist()[:5]}) at features.n_fft={f['n_fft']}, fmin={f['fmin']}, fmax={f['fmax']}: lower "
            "n_mels or raise n_fft"
        )


def _check_first_clip(cfg: Mapping[str, Any], table: Any) -> None:
    """A user's own folder: its first and last clips' rate and length against the front end (header reads). When
    the two agree with each other but not with the config, the config is named; when only one differs, that
    file (truncated, resampled, not audio)."""
    import soundfile as sf

    d, f = cfg["dataset"], cfg["features"]
    paths = [
        Path(d["root"]) / name
        for name in dict.fromkeys([table["filename"].iloc[0], table["filename"].iloc[-1]])
    ]
    infos = {}
    for path in paths:
        try:
            infos[path] = sf.info(str(path))
        except Exception as err:  # noqa: BLE001 - libsndfile's reasons vary: name the file, in one line
            raise InputError(
                f"{path} cannot be read as audio ({str(err).strip().splitlines()[-1]}); replace it with the WAV "
                "the fold files name, or remove it from them"
            ) from None
    rate, seconds = int(f["sample_rate"]), float(d["clip_seconds"])
    odd_rate = [p for p, i in infos.items() if i.samplerate != rate and not f["resample"]]
    odd_length = [p for p, i in infos.items() if abs(i.duration - seconds) > 1.0 / i.samplerate]
    for odd, what in ((odd_rate, "rate"), (odd_length, "length")):
        if not odd:
            continue
        path, info = odd[0], infos[odd[0]]
        got = f"{info.samplerate} Hz" if what == "rate" else f"{info.duration:g} s"
        if len(odd) < len(infos):  # the other sampled clip agrees with the config: this file is the odd one
            raise InputError(
                f"{path} is {got}, unlike other clips of dataset.root ({rate} Hz, {seconds:g} s as the config "
                "says): the file is damaged or truncated; replace it"
            )
        fix = (
            f"set dataset.sample_rate={info.samplerate} (the features follow it) or features.resample=true"
            if what == "rate"
            else f"set dataset.clip_seconds={info.duration:g}"
        )
        wanted = f"features.sample_rate={rate}" if what == "rate" else f"dataset.clip_seconds={seconds:g}"
        raise InputError(f"{path} is {got} (so are the other clips checked) but {wanted}: {fix}")


def check(steps: Sequence[Step], cfg: Mapping[str, Any]) -> list[tuple[Step, Need]]:
    f, d = cfg["features"], cfg["dataset"]
    table = index.folds(cfg)
    layout = layout_of(d)  # a set with its own reader checks its audio there (asc.data.layouts); WAVs here
    wavs = layout is None or layout.waveforms is None
    if table is not None and not kind_of(d).generated and wavs and len(table):
        _check_first_clip(cfg, table)  # first: what the audio is decides what the front end must fit
    if not wavs and int(d["sample_rate"]) != int(f["sample_rate"]) and not f["resample"]:
        raise ConfigError(
            f"dataset.sample_rate={d['sample_rate']} but features.sample_rate={f['sample_rate']} and "
            "features.resample=false: set features.resample=true (or the front end's rate to the set's)"
        )
    check_frontend(f, float(d["clip_seconds"]))
    expected = d.get("expected_counts") or {k: d[k] for k in ("train_clips", "eval_clips") if k in d}
    clips = len(table) if table is not None else sum(int(v) for v in expected.values())
    size = feature_bytes(clips, n_mels=int(f["n_mels"]), frames=int(f["frames"]))
    need = Need(Path(cfg["paths"]["data"]), size, "features", "point paths.data at a larger disk")
    return [(step, need) for step in steps]


def run(steps: Sequence[Step], ctx: Context) -> None:
    from asc.data import tau
    from asc.frontend.features import build_features
    from asc.frontend.frontend_options import FrontEnd

    f, d, rt = ctx.cfg["features"], ctx.cfg["dataset"], ctx.runtime
    frontend = FrontEnd.from_config(f)
    layout = layout_of(d)
    for step in steps:
        root = dataset.root_of(step.up("dataset"), ctx)

        def build(work: Path, root: Path = root) -> dict[str, Any]:
            if layout is not None:  # a packed set: its index's clips, read from its files
                return build_features(
                    root,
                    layout.index(root, d),
                    frontend,
                    work,
                    clip_seconds=float(d["clip_seconds"]),
                    batch_size=int(rt["feature_batch_size"]),
                    device=ctx.device,
                    progress=rt["progress"],
                    waveforms=None
                    if layout.waveforms is None  # one WAV per clip (ESC-50): decoded as TAU's
                    else lambda rows: layout.waveforms(root, rows, d, frontend.sample_rate),
                )
            if not kind_of(d).has_audio:
                from asc.data.standin import render_features

                table = tau.read_folds(root, audio=False)
                return render_features(
                    table,
                    work,
                    seed=int(d["seed"]),
                    n_mels=frontend.n_mels,
                    frames=frontend.frames,
                    progress=rt["progress"],
                )
            return build_features(
                root,
                tau.read_folds(root),  # split = the fold: train | evaluate
                frontend,
                work,
                clip_seconds=float(d["clip_seconds"]),
                batch_size=int(rt["feature_batch_size"]),
                workers=int(rt["workers"]),
                device=ctx.device,
                progress=rt["progress"],
            )

        ctx.build(step, build, rebuild_damaged=True)
