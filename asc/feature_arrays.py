"""Reading a stored feature split (``<split>.npy`` + ``<split>.csv``, written by :mod:`asc.features`) into memory.

On the real dataset fold1_train is 13,962 × 40 × 500 float32 = 1.1 GB. Normalising it in one expression
(``((x - mean) / std).astype(float32)`` with float64 statistics) holds the float32 array, a float64 temporary
twice its size and the float32 result at once: 4.5 GB. Here the file is read a bounded chunk of clips at a time,
each chunk normalised in float64 exactly as that expression does and rounded into one preallocated float32
array, so the split is held once plus one chunk. ``order`` picks and orders the clips while reading, so callers
(asc/splits.py) lay out several splits in that one array instead of copying them out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

# Working memory per chunk, counted in float64. Any size gives the same bits (each element is one subtraction
# and one division, rounded once to float32); this only bounds the temporary.
CHUNK_BYTES = 64 * 2**20


def read_rows(feature_dir: Path, split: str) -> pd.DataFrame:
    """The index rows of the clips of ``<split>.npy``, in its order."""
    return pd.read_csv(Path(feature_dir) / f"{split}.csv", dtype=str, keep_default_na=False)


def normalised(
    x: np.ndarray, *, mean: np.ndarray, std: np.ndarray, buffer: np.ndarray | None = None
) -> np.ndarray:
    """``(x - mean) / std`` per band (axis 1), into ``buffer`` (at least x's shape) when given. In the dtype of
    the one-expression form ``(x - mean[None, :, None]) / std[None, :, None]`` (float64 for float32 features and
    asc's float64 statistics), so rounding it to float32 (``astype``, or assigning it into a float32 array: the
    same rounding) equals ``(...).astype(np.float32)`` bit for bit: each element is one subtraction and one
    division in that dtype, however the array is chunked."""
    dtype = np.result_type(x, mean, std)
    tmp = np.empty(x.shape, dtype=dtype) if buffer is None else buffer[: len(x)]
    if tmp.dtype != dtype:
        raise ValueError(f"buffer is {tmp.dtype}, the normalisation runs in {dtype}")
    np.subtract(x, mean[None, :, None], out=tmp)
    return np.divide(tmp, std[None, :, None], out=tmp)


def load_split(
    feature_dir: Path,
    split: str,
    normalise: bool = True,
    *,
    order: np.ndarray | None = None,
    chunk_rows: int | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Features of one split in memory (normalised with the fold1_train statistics: float32) and its index rows,
    both in ``order`` (see :func:`load_array`)."""
    rows = read_rows(feature_dir, split)
    x = load_array(
        feature_dir, split, clips=len(rows), normalise=normalise, order=order, chunk_rows=chunk_rows
    )
    return x, rows if order is None else rows.iloc[order].reset_index(drop=True)


def load_array(
    feature_dir: Path,
    split: str,
    *,
    clips: int,
    normalise: bool = True,
    order: np.ndarray | None = None,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """``<split>.npy`` (``clips`` clips: what ``<split>.csv`` lists), normalised into float32 if ``normalise``.

    ``order``: the clips (positions in the file) to return, in this order, each at most once (default: all, in
    file order). ``chunk_rows``: clips per read (default: :data:`CHUNK_BYTES` of float64). Equal to
    ``x[order]`` of the one-expression normalisation of the whole array, bit for bit, for any chunking.
    """
    feature_dir = Path(feature_dir)
    path = feature_dir / f"{split}.npy"
    with open(path, "rb") as fh:
        shape, dtype = _header(fh, path)
        if shape[0] != clips:
            raise ValueError(
                f"{path} holds {shape[0]} clips but {split}.csv lists {clips}; the features are "
                "incomplete: delete the folder and rebuild them"
            )
        dest = _destinations(shape[0], order)
        out = np.empty(
            (shape[0] if order is None else len(order), *shape[1:]), dtype=np.float32 if normalise else dtype
        )
        per_clip = int(np.prod(shape[1:], dtype=np.int64))
        step = max(1, int(chunk_rows) if chunk_rows else CHUNK_BYTES // (8 * max(per_clip, 1)))
        raw = np.empty((min(step, shape[0]), *shape[1:]), dtype=dtype)
        if normalise:
            stats = np.load(feature_dir / "stats.npz")
            mean, std = stats["mean"], stats["std"]
            buffer = np.empty(raw.shape, dtype=np.result_type(raw, mean, std))
        for start in range(0, shape[0], step):
            chunk = raw[: min(step, shape[0] - start)]
            _read_exactly(fh, chunk, path)
            to = dest[start : start + len(chunk)]
            keep = to >= 0
            if not keep.all():
                chunk, to = chunk[keep], to[keep]
            out[to] = normalised(chunk, mean=mean, std=std, buffer=buffer) if normalise else chunk
    return out


def _header(fh: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file, the file positioned at its data."""
    try:
        version = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read(fh)
    except ValueError as err:
        raise ValueError(
            f"{path} is not a .npy feature array ({err}); delete it and rebuild the features"
        ) from err
    if fortran_order or dtype.hasobject or len(shape) < 1:
        raise ValueError(
            f"{path} is not a C-ordered numeric array as asc writes features; rebuild the features"
        )
    return shape, dtype


def _destinations(n: int, order: np.ndarray | None) -> np.ndarray:
    """For each clip of the file, its row in the output (-1: not loaded)."""
    if order is None:
        return np.arange(n)
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= n)):
        raise ValueError(f"order must list clip positions in 0..{n - 1}")
    dest = np.full(n, -1, dtype=np.int64)
    dest[order] = np.arange(len(order))
    if (dest >= 0).sum() != len(order):
        raise ValueError("order lists a clip more than once")
    return dest


def _read_exactly(fh: BinaryIO, into: np.ndarray, path: Path) -> None:
    got = fh.readinto(memoryview(into).cast("B"))
    if got != into.nbytes:
        raise ValueError(f"{path} ends early (truncated file); delete the features folder and rebuild it")
