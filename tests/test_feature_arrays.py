"""Reading stored features in chunks (asc/data/feature_arrays.py): the same bits as normalising the whole array at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from feature_fixtures import one_expression, same_bits, write_split

from asc.data import feature_arrays
from asc.data.feature_arrays import load_array, load_split, normalised


@pytest.fixture()
def stored(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """37 clips of log-mel-like values (wide range, so float32 rounding of the float64 quotient matters)."""
    rng = np.random.default_rng(3)
    x = (rng.normal(-8.0, 6.0, (37, 5, 11)) * rng.uniform(0.1, 10.0, (37, 1, 1))).astype(np.float32)
    mean = x.astype(np.float64).mean(axis=(0, 2)) + rng.normal(0, 1e-3, 5)
    std = x.astype(np.float64).std(axis=(0, 2), ddof=1) * rng.uniform(0.9, 1.1, 5)
    write_split(tmp_path, "train", x, mean, std)
    return tmp_path, x, mean, std


@pytest.mark.parametrize("chunk_rows", [1, 8, 36, 37, 1000])
def test_chunked_normalisation_equals_the_one_expression_bit_for_bit(stored, chunk_rows: int) -> None:
    folder, x, mean, std = stored
    got, rows = load_split(folder, "train", chunk_rows=chunk_rows)
    assert same_bits(got, one_expression(x, mean, std))
    assert rows["filename"].tolist() == [f"audio/clip{i}.wav" for i in range(len(x))]


def test_default_chunk_size_is_bit_identical_over_several_chunks(
    stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, x, mean, std = stored
    monkeypatch.setattr(
        feature_arrays, "CHUNK_BYTES", 8 * 5 * 11 * 6
    )  # 6 clips of float64 per chunk: 7 chunks
    assert same_bits(load_split(folder, "train")[0], one_expression(x, mean, std))


def test_the_float64_rounding_matters_here(stored) -> None:
    """Guards the test above: computing in float32 instead of float64 gives other bits on this data."""
    _, x, mean, std = stored
    float32_math = (x - mean.astype(np.float32)[None, :, None]) / std.astype(np.float32)[None, :, None]
    assert not same_bits(float32_math, one_expression(x, mean, std))


def test_normalised_keeps_the_dtype_of_the_one_expression() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    assert normalised(x, mean=np.zeros(3), std=np.ones(3)).dtype == np.float64
    assert normalised(x, mean=np.zeros(3, np.float32), std=np.ones(3, np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="buffer is float32"):
        normalised(x, mean=np.zeros(3), std=np.ones(3), buffer=np.empty(x.shape, np.float32))


def test_order_picks_and_orders_clips_while_reading(stored) -> None:
    folder, x, mean, std = stored
    order = np.array([30, 2, 3, 36, 0, 17, 18, 5])
    got, rows = load_split(folder, "train", order=order, chunk_rows=4)
    assert same_bits(got, one_expression(x, mean, std)[order])
    assert rows["filename"].tolist() == [f"audio/clip{i}.wav" for i in order]
    raw = load_array(folder, "train", clips=len(x), normalise=False, order=order, chunk_rows=4)
    assert raw.dtype == np.float32 and np.array_equal(raw, x[order])


def test_bad_order_and_mismatched_files_are_refused(stored) -> None:
    folder, x, _, _ = stored
    with pytest.raises(ValueError, match="more than once"):
        load_array(folder, "train", clips=len(x), order=np.array([1, 1]))
    with pytest.raises(ValueError, match="clip positions in 0..36"):
        load_array(folder, "train", clips=len(x), order=np.array([37]))
    with pytest.raises(ValueError, match="holds 37 clips but train.csv lists 36"):
        load_array(folder, "train", clips=36)
    data = (folder / "train.npy").read_bytes()
    (folder / "train.npy").write_bytes(data[:-4])
    with pytest.raises(ValueError, match="ends early"):
        load_split(folder, "train")
