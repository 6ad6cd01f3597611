"""Stored feature arrays for tests, and the reference normalisation they must match bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def one_expression(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The normalisation as load_split computed it before it read in chunks (the reference)."""
    return ((x - mean[None, :, None]) / std[None, :, None]).astype(np.float32)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.dtype == b.dtype == np.float32
        and a.shape == b.shape
        and np.array_equal(a.view(np.uint32), b.view(np.uint32))
    )


def write_split(folder: Path, split: str, x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
    """A features folder as asc.frontend.features writes it: <split>.npy, <split>.csv, stats.npz (float64)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{split}.npy", x)
    pd.DataFrame({"filename": [f"audio/clip{i}.wav" for i in range(len(x))]}).to_csv(
        folder / f"{split}.csv", index=False
    )
    np.savez(folder / "stats.npz", mean=mean, std=std)
