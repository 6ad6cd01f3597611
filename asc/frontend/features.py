"""The DCASE 2021 Task 1A front end: 40 log-mel bands × 500 frames per 10 s clip, batched in torch.

Fidelity (docs/dcase2021_baseline.md): periodic Hamming window of 1764 samples centred in n_fft = 2048,
hop 882, centred frames with ``pad_mode`` padding (reflect, as librosa <= 0.8 did for the baseline), magnitude
spectrum, Slaney mel filters from librosa, ln(mel + eps), frames 0..499, eps = numpy.spacing(1) also added to the
waveform. :func:`librosa_reference` computes the same thing per clip with librosa and is what tests and the
benchmark compare against.

Decoding (soundfile) runs in a thread pool a bounded number of clips ahead of the STFT, so the two overlap, and
checks every clip (finite, mono, rate, length). The normalisation statistics are summed while extracting, over
``stats_frames`` frames per clip (500, or the official baseline's 501); the stored arrays keep ``frames``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asc.core.atomic import atomic_path, atomic_write_text
from asc.core.checks import require_finite
from asc.core.locks import ensure_held
from asc.core.progress import progress_bar, show_progress
from asc.data.feature_arrays import (
    NpyWriter,
    write_npy,
)
from asc.frontend.audio import AudioError, decoded
from asc.frontend.frontend_options import FrontEnd  # declared torch-free
from asc.frontend.mel import EPS, log_compress, mel_matrix, window_of

log = logging.getLogger(__name__)


class BandSums:
    """Per-band float64 sums of values and squares over the frames that feed the normalisation statistics."""

    def __init__(self, n_mels: int):
        self.count, self.s1, self.s2 = 0, np.zeros(n_mels), np.zeros(n_mels)

    def add(self, x: np.ndarray) -> None:
        """Add a (batch, n_mels, frames) block."""
        x64 = x.astype(np.float64)
        self.s1 += x64.sum(axis=(0, 2))
        self.s2 += (x64**2).sum(axis=(0, 2))
        self.count += x.shape[0] * x.shape[2]

    def merge(self, other: BandSums) -> None:
        self.count, self.s1, self.s2 = self.count + other.count, self.s1 + other.s1, self.s2 + other.s2

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample standard deviation (ddof=1) per band."""
        mean = self.s1 / self.count
        return mean, np.sqrt((self.s2 - self.count * mean**2) / (self.count - 1))


class LogMel(torch.nn.Module):
    """(batch, samples) waveform → (batch, n_mels, stats_frames) log-mel energies (float32)."""

    def __init__(self, frontend: FrontEnd):
        super().__init__()
        self.frontend = frontend
        dtype = getattr(torch, frontend.dtype)
        self.register_buffer("window", window_of(frontend, dtype))
        self.register_buffer("mel", torch.from_numpy(mel_matrix(frontend)).to(dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        f = self.frontend
        y = y.to(self.window.dtype) + EPS
        if f.preemphasis:
            y = y[..., 1:] - f.preemphasis * y[..., :-1]
        spec = torch.stft(
            y,
            n_fft=f.n_fft,
            hop_length=f.hop_length,
            win_length=f.win_length,
            window=self.window,
            center=f.center,
            pad_mode=f.pad_mode,
            return_complex=True,
        )
        mag = spec[..., : f.stats_frames].abs()
        mel = torch.matmul(self.mel, mag if f.power == 1.0 else mag**2)
        return log_compress(mel, f).float()


def librosa_reference(y: np.ndarray, frontend: FrontEnd) -> np.ndarray:
    """Per-clip librosa computation of the same features, ``stats_frames`` frames (the yardstick for fidelity)."""
    import librosa
    import scipy.signal

    f = frontend
    window = scipy.signal.windows.hamming(f.win_length, sym=False)
    y = np.asarray(y, dtype=np.float64)  # the baseline decoded to float64 (exact for 24-bit PCM either way)
    spec = np.abs(
        librosa.stft(
            y + EPS,
            n_fft=f.n_fft,
            hop_length=f.hop_length,
            win_length=f.win_length,
            window=window,
            center=True,
            pad_mode=f.pad_mode,
        )
    )
    return np.log(mel_matrix(f) @ spec + EPS)[:, : f.stats_frames].astype(np.float32)


def extract(
    paths: Sequence[Path],
    out: np.ndarray | NpyWriter,
    frontend: FrontEnd,
    *,
    clip_seconds: float,
    batch_size: int = 4,
    workers: int = 2,
    device: torch.device | str = "cpu",
    desc: str = "features",
    progress: bool | None = None,
    waveforms: Iterable[np.ndarray] | None = None,
) -> BandSums:
    """Fill ``out`` (N, n_mels, frames: an array, or a :class:`NpyWriter` filled in order) with the features of
    ``paths`` in order; return the per-band sums of
    all ``stats_frames`` frames (for the normalisation statistics, without reading ``out`` back).

    ``batch_size`` is the CPU batch (larger is slower: cache); CUDA always uses 64. ``waveforms``: the clips
    (samples,) at the front end's rate, one per path (a packed HDF5 set's: asc/data/h5_clips.py) instead of
    decoding ``paths``, which then only name the clips.
    """
    device = torch.device(device)
    logmel = LogMel(frontend).to(device)
    batch = int(batch_size) if device.type == "cpu" else 64
    show = show_progress(progress)
    sums = BandSums(frontend.n_mels)
    pending: list[np.ndarray] = []
    done = 0
    clips = (
        decoded(paths, frontend, clip_seconds, ahead=2 * batch, workers=workers)
        if waveforms is None
        else (np.asarray(y, dtype=frontend.dtype) for y in waveforms)
    )
    with progress_bar(total=len(paths), desc=desc, unit="clip", show=show) as bar, torch.inference_mode():
        for i, y in enumerate(clips):
            pending.append(y)
            if len(pending) == batch or i == len(paths) - 1:
                x = logmel(torch.from_numpy(np.stack(pending)).to(device, non_blocking=True)).cpu().numpy()
                names = ", ".join(str(p) for p in paths[done : done + len(pending)])
                if x.shape[2] != frontend.stats_frames:
                    raise AudioError(
                        f"{names}: {x.shape[2]} frames, expected features.stats_frames="
                        f"{frontend.stats_frames}; clip_seconds is too short for it"
                    )
                require_finite(f"features of {names}", x)
                sums.add(x)
                out[done : done + len(pending)] = x[..., : frontend.frames]
                done += len(pending)
                bar.update(len(pending))
                pending.clear()
    return sums


def build_features(
    root: Path,
    table: pd.DataFrame,
    frontend: FrontEnd,
    out_dir: Path,
    *,
    clip_seconds: float,
    batch_size: int = 4,
    workers: int = 2,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    waveforms: Callable[[pd.DataFrame], Iterable[np.ndarray]] | None = None,
) -> dict[str, Any]:
    """One float32 ``.npy`` array per split (plain writes into reserved space: a full disk is an error naming
    the folder, never a SIGBUS) + per-band normalisation stats from fold1_train (train + val).

    On any error (a bad clip, non-finite numbers) every file this call wrote is removed again, so the folder
    never holds features or stats of a failed build. ``waveforms(rows)``: the clips of index rows, for a set
    whose audio is not one WAV per clip (see :func:`extract`).
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    try:
        return _build(
            root,
            table,
            frontend,
            out_dir,
            written,
            clip_seconds=clip_seconds,
            batch_size=batch_size,
            workers=workers,
            device=device,
            progress=progress,
            waveforms=waveforms,
        )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _build(
    root: Path,
    table: pd.DataFrame,
    frontend: FrontEnd,
    out_dir: Path,
    written: list[Path],
    waveforms: Callable[[pd.DataFrame], Iterable[np.ndarray]] | None = None,
    **speed: Any,
) -> dict[str, Any]:
    shapes = {}
    # The baseline normalises with statistics of every fold1_train clip, including those later used for validation.
    fold1_train = BandSums(frontend.n_mels)
    for split, rows in table.groupby("split", sort=False):
        ensure_held()  # a job suspended past the lock's stale timeout stops here: another one builds these
        shape = (len(rows), frontend.n_mels, frontend.frames)
        written += [out_dir / f"{split}.npy", out_dir / f"{split}.csv"]
        with atomic_path(out_dir / f"{split}.npy") as tmp, write_npy(tmp, shape, np.float32) as arr:
            sums = extract(
                [root / f for f in rows["filename"]],
                arr,
                frontend,
                desc=f"features {split}",
                waveforms=None if waveforms is None else waveforms(rows),
                **speed,
            )
        if split in ("train", "val"):
            fold1_train.merge(sums)
        atomic_write_text(out_dir / f"{split}.csv", rows.to_csv(index=False))
        shapes[split] = len(rows)
    mean, std = fold1_train.mean_std()
    require_finite(f"normalisation statistics of {out_dir}", {"mean": mean, "std": std})
    written.append(out_dir / "stats.npz")
    with atomic_path(out_dir / "stats.npz") as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to the temp name
            np.savez(fh, mean=mean, std=std)
    return {
        "clips": shapes,
        "shape": [frontend.n_mels, frontend.frames],
        "stats_frames": frontend.stats_frames,
    }
