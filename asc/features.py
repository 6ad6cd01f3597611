"""The DCASE 2021 Task 1A front end: 40 log-mel bands × 500 frames per 10 s clip, batched in torch.

Fidelity (reference/dcase2021_baseline.md): periodic Hamming window of 1764 samples centred in n_fft = 2048,
hop 882, centred frames with ``pad_mode`` padding (reflect, as librosa <= 0.8 did for the baseline), magnitude
spectrum, Slaney mel filters from librosa, ln(mel + eps), frames 0..499, eps = numpy.spacing(1) also added to the
waveform. :func:`librosa_reference` computes the same thing per clip with librosa and is what tests and the
benchmark compare against.

Decoding (soundfile) runs in a thread pool a bounded number of clips ahead of the STFT, so the two overlap.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from tqdm import tqdm

from asc.atomic import atomic_path
from asc.progress import show_progress

log = logging.getLogger(__name__)

EPS = float(np.spacing(1))


class AudioError(ValueError):
    """A clip that cannot become a feature matrix (unreadable, wrong rate, wrong length)."""


def mel_matrix(cfg: Mapping[str, Any]) -> np.ndarray:
    import librosa  # heavy import, only needed here

    return librosa.filters.mel(
        sr=cfg["sample_rate"],
        n_fft=cfg["n_fft"],
        n_mels=cfg["n_mels"],
        fmin=cfg["fmin"],
        fmax=cfg["fmax"],
        htk=False,
    )


class LogMel(torch.nn.Module):
    """(batch, samples) waveform → (batch, n_mels, frames) log-mel energies."""

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.cfg = dict(cfg)
        dtype = getattr(torch, cfg.get("dtype", "float32"))
        self.register_buffer("window", torch.hamming_window(cfg["win_length"], periodic=True, dtype=dtype))
        self.register_buffer("mel", torch.from_numpy(mel_matrix(cfg)).to(dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        spec = torch.stft(
            y.to(self.window.dtype) + EPS,
            n_fft=c["n_fft"],
            hop_length=c["hop_length"],
            win_length=c["win_length"],
            window=self.window,
            center=True,
            pad_mode=c["pad_mode"],
            return_complex=True,
        )
        mel = torch.matmul(self.mel, spec[..., : c["frames"]].abs())
        return torch.log(mel + EPS).float()


def librosa_reference(y: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Per-clip librosa computation of the same features (the yardstick for fidelity and speed)."""
    import librosa
    import scipy.signal

    window = scipy.signal.windows.hamming(cfg["win_length"], sym=False)
    y = np.asarray(y, dtype=np.float64)  # the baseline decoded to float64 (exact for 24-bit PCM either way)
    spec = np.abs(
        librosa.stft(
            y + EPS,
            n_fft=cfg["n_fft"],
            hop_length=cfg["hop_length"],
            win_length=cfg["win_length"],
            window=window,
            center=True,
            pad_mode=cfg["pad_mode"],
        )  # fmt: skip
    )
    return np.log(mel_matrix(cfg) @ spec + EPS)[:, : cfg["frames"]].astype(np.float32)


def load_audio(path: str | Path, cfg: Mapping[str, Any], clip_seconds: float = 10.0) -> np.ndarray:
    """Mono waveform (float32, or float64 for a float64 front end) of exactly clip_seconds·sample_rate samples, or an AudioError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist; re-download or regenerate the dataset")
    # float32 holds 24-bit PCM exactly, and halves the decoding work when the STFT runs in float32 anyway.
    dtype = "float32" if cfg.get("dtype", "float32") == "float32" else "float64"
    try:
        y, sr = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as err:  # soundfile raises several types for broken files
        raise AudioError(f"cannot decode {path}: {err}; the file is corrupt, re-download it") from err
    y = y[:, 0] if y.shape[1] == 1 else y.mean(axis=1)
    if sr != cfg["sample_rate"]:
        if not cfg.get("resample", False):
            raise AudioError(
                f"{path} is {sr} Hz but features.sample_rate is {cfg['sample_rate']}; "
                "set features.resample=true to resample it (the official baseline does)"
            )
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=cfg["sample_rate"])
    expected = round(clip_seconds * cfg["sample_rate"])
    if y.size != expected:
        raise AudioError(
            f"{path} has {y.size} samples, expected {expected} ({clip_seconds} s at {cfg['sample_rate']} Hz); "
            "the file is truncated or not a clip of this dataset — re-download it"
        )
    return y


def _decoded(
    paths: Sequence[Path], cfg: Mapping[str, Any], clip_seconds: float, ahead: int
) -> Iterator[np.ndarray]:
    """Decode in threads, in order, at most ``ahead`` clips in flight (libsndfile releases the GIL)."""
    with ThreadPoolExecutor(max(1, int(cfg.get("workers", 2)))) as pool:
        queue: deque = deque()
        for path in paths:
            queue.append(pool.submit(load_audio, path, cfg, clip_seconds))
            if len(queue) >= ahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


def extract(
    paths: Sequence[Path],
    out: np.ndarray,
    cfg: Mapping[str, Any],
    *,
    clip_seconds: float = 10.0,
    device: torch.device | str = "cpu",
    desc: str = "features",
    progress: bool | None = None,
) -> None:
    """Fill ``out`` (N, n_mels, frames) with the features of ``paths`` in order."""
    device = torch.device(device)
    frontend = LogMel(cfg).to(device)
    batch = int(cfg["batch_size"]) if device.type == "cpu" else 64
    disable = not show_progress(progress)
    pending: list[np.ndarray] = []
    done = 0
    with tqdm(total=len(paths), desc=desc, unit="clip", disable=disable) as bar, torch.inference_mode():
        for i, y in enumerate(_decoded(paths, cfg, clip_seconds, ahead=2 * batch)):
            pending.append(y)
            if len(pending) == batch or i == len(paths) - 1:
                x = torch.from_numpy(np.stack(pending)).to(device, non_blocking=True)
                out[done : done + len(pending)] = frontend(x).cpu().numpy()
                done += len(pending)
                bar.update(len(pending))
                pending.clear()


def build_features(
    root: Path, table: pd.DataFrame, cfg: Mapping[str, Any], out_dir: Path, *, clip_seconds: float,
    device: torch.device | str = "cpu", progress: bool | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One memmapped float32 array per split + per-band normalisation stats from fold1_train (train + val)."""
    shapes = {}
    for split, rows in table.groupby("split", sort=False):
        shape = (len(rows), cfg["n_mels"], cfg["frames"])
        with atomic_path(out_dir / f"{split}.npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            extract([root / f for f in rows["filename"]], arr, cfg, clip_seconds=clip_seconds, device=device,
                    desc=f"features {split}", progress=progress)  # fmt: skip
            arr.flush()
            del arr
        rows.to_csv(out_dir / f"{split}.csv", index=False)
        shapes[split] = len(rows)
    # The baseline normalises with statistics of every fold1_train clip, including those later used for validation.
    fold1_train = [np.load(out_dir / f"{s}.npy", mmap_mode="r") for s in ("train", "val") if s in shapes]
    total = sum(a.shape[0] * a.shape[2] for a in fold1_train)
    s1, s2 = np.zeros(cfg["n_mels"]), np.zeros(cfg["n_mels"])
    for (
        a
    ) in fold1_train:  # one float64 copy per split (1.1 GB of float32 on the real set), used for both sums
        a64 = a.astype(np.float64)
        s1 += a64.sum(axis=(0, 2))
        s2 += (a64**2).sum(axis=(0, 2))
    mean = s1 / total
    std = np.sqrt((s2 - total * mean**2) / (total - 1))
    np.savez(out_dir / "stats.npz", mean=mean, std=std)
    return {"clips": shapes, "shape": [cfg["n_mels"], cfg["frames"]]}


def load_split(feature_dir: Path, split: str, normalise: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Features of one split in memory (normalised with the fold1_train stats) and its rows of the index."""
    feature_dir = Path(feature_dir)
    x = np.load(feature_dir / f"{split}.npy")
    rows = pd.read_csv(feature_dir / f"{split}.csv", dtype=str, keep_default_na=False)
    if normalise:
        stats = np.load(feature_dir / "stats.npz")
        x = ((x - stats["mean"][None, :, None]) / stats["std"][None, :, None]).astype(np.float32)
    return x, rows
