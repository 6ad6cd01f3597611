"""Reading a stored feature split (``<split>.npy`` + ``<split>.csv``, written by :mod:`asc.frontend.features`) into memory.

On the real dataset fold1_train is 13,962 × 40 × 500 float32 = 1.1 GB. Normalising it in one expression
(``((x - mean) / std).astype(float32)`` with float64 statistics) holds the float32 array, a float64 temporary
twice its size and the float32 result at once: 4.5 GB. Here the file is read a bounded chunk of clips at a time,
each chunk normalised in float64 exactly as that expression does and rounded into one preallocated float32
array, so the split is held once plus one chunk. ``order`` picks and orders the clips while reading, so callers
(asc/frontend/splits.py) lay out several splits in that one array instead of copying them out of it. Every chunk read is
checked to be finite (as fast as the read itself), so a damaged file is named instead of training on NaN.

Writing (:func:`write_npy`) uses plain sequential writes into a file whose space is reserved first: a memory-mapped
write that meets a full disk or quota kills the process with SIGBUS and no message, a plain write raises ENOSPC,
which :mod:`asc.core.disk` turns into one line naming the folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from asc.core.atomic import final_name
from asc.core.disk import explain_full_disk, reserve

# Working memory per chunk, counted in float64. Any size gives the same bits (each element is one subtraction
# and one division, rounded once to float32); this only bounds the temporary.
CHUNK_BYTES = 64 * 2**20


class DamagedFeaturesError(ValueError):
    """A stored feature file that is not what asc wrote (truncated, non-finite values); the message names it."""


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
            raise DamagedFeaturesError(
                f"{path} holds {shape[0]} clips but {split}.csv lists {clips}; the features are "
                f"incomplete: delete the folder {feature_dir} and rerun to rebuild them"
            )
        dest = _destinations(shape[0], order)
        out = np.empty(
            (shape[0] if order is None else len(order), *shape[1:]), dtype=np.float32 if normalise else dtype
        )
        per_clip = int(np.prod(shape[1:], dtype=np.int64))
        step = max(1, int(chunk_rows) if chunk_rows else CHUNK_BYTES // (8 * max(per_clip, 1)))
        raw = np.empty((min(step, shape[0]), *shape[1:]), dtype=dtype)
        if normalise:
            mean, std = read_stats(feature_dir)
            buffer = np.empty(raw.shape, dtype=np.result_type(raw, mean, std))
        for start in range(0, shape[0], step):
            chunk = raw[: min(step, shape[0] - start)]
            _read_exactly(fh, chunk, path)
            to = dest[start : start + len(chunk)]
            keep = to >= 0
            _require_finite(chunk, start, path)
            if not keep.all():
                chunk, to = chunk[keep], to[keep]
            out[to] = normalised(chunk, mean=mean, std=std, buffer=buffer) if normalise else chunk
    return out


def read_stats(feature_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The per-band normalisation statistics (mean, std: float64 of shape (n_mels,)) of ``stats.npz``, checked
    finite; a damaged file raises :class:`DamagedFeaturesError` naming it."""
    path = Path(feature_dir) / "stats.npz"
    try:
        with np.load(path) as stats:
            mean, std = stats["mean"], stats["std"]
    except FileNotFoundError:
        raise
    except Exception as err:  # zipfile, pickle and KeyError all mean "not what asc wrote"
        raise DamagedFeaturesError(
            f"{path} cannot be read ({type(err).__name__}: {err}); delete the folder {path.parent} and rerun"
        ) from err
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise DamagedFeaturesError(
            f"{path} holds non-finite statistics, which asc never stores: the file is damaged; "
            f"delete the folder {path.parent} and rerun to rebuild it"
        )
    return mean, std


def _require_finite(chunk: np.ndarray, start: int, path: Path) -> None:
    finite = np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
    if not finite.all():
        clip = start + int(np.flatnonzero(~finite)[0])
        raise DamagedFeaturesError(
            f"{path}: clip {clip} (row {clip + 2} of {path.with_suffix('.csv').name}) holds non-finite values, "
            f"which asc never stores: the file is damaged; delete the folder {path.parent} and rerun to rebuild it"
        )


class NpyWriter:
    """Sequential writer of one ``.npy`` file: ``writer[start:stop] = block`` appends clips in order (the way
    :func:`asc.frontend.features.extract` fills its output), so no page of the file is ever memory-mapped."""

    def __init__(self, fh: BinaryIO, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.fh, self.path, self.shape, self.dtype = fh, path, tuple(shape), np.dtype(dtype)
        self.rows = 0

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, index: slice, value: np.ndarray) -> None:
        if not isinstance(index, slice) or index.step not in (None, 1) or (index.start or 0) != self.rows:
            raise ValueError(f"{self.path}: clips are written in order; next is {self.rows}, got {index}")
        start, stop = self.rows, index.stop
        block = np.ascontiguousarray(value, dtype=self.dtype)
        if block.shape != (stop - start, *self.shape[1:]) or stop > self.shape[0]:
            raise ValueError(f"{self.path}: block of shape {block.shape} does not fit rows {start}:{stop}")
        self.fh.write(memoryview(block).cast("B"))
        self.rows = stop


@contextmanager
def write_npy(
    path: str | Path, shape: tuple[int, ...], dtype: np.dtype | str = np.float32
) -> Iterator[NpyWriter]:
    """Create the ``.npy`` file ``path`` (new: O_EXCL, never through a symlink) of ``shape`` and ``dtype``, its
    space reserved up front; the block fills it in order (see :class:`NpyWriter`) and must fill it completely.
    A full disk or quota raises :class:`asc.core.disk.DiskFullError` naming the folder and the file's size."""
    path, dtype = Path(path), np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    with explain_full_disk(path.parent, f"the feature array {final_name(path)}", need=size):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            reserve(fd, fh.tell() + size)
            writer = NpyWriter(fh, path, shape, dtype)
            yield writer
            if writer.rows != shape[0]:
                raise ValueError(f"{path}: {writer.rows} of {shape[0]} clips were written")


def _header(fh: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file, the file positioned at its data."""
    try:
        version = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read(fh)
    except ValueError as err:
        raise DamagedFeaturesError(
            f"{path} is not a .npy feature array ({err}); delete it and rebuild the features"
        ) from err
    if fortran_order or dtype.hasobject or len(shape) < 1:
        raise DamagedFeaturesError(
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
        raise DamagedFeaturesError(
            f"{path} ends early (truncated file); delete the folder {path.parent} and rerun to rebuild it"
        )
