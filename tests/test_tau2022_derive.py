"""The checked option of cutting a TAU 2020 copy into TAU 2022's 1-s layout (asc/data/tau2022_derive.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asc.core.errors import InputError
from asc.data import tau, tau2022
from asc.data.tau2022_derive import derive_1s, verify_against_official

SR = 1000  # a low rate keeps the files small; the cut is the same at 44.1 kHz


def _source(root, lengths=(10 * SR, 10 * SR)):
    names = ["audio/bus-lisbon-1-10-a.wav", "audio/park-paris-2-20-s2.wav"][: len(lengths)]
    (root / "audio").mkdir(parents=True)
    for i, (name, n) in enumerate(zip(names, lengths, strict=True)):
        samples = np.random.default_rng(i).integers(-(2**23), 2**23, n).astype(np.int32) << 8
        sf.write(root / name, samples, SR, subtype="PCM_24", format="WAV")
    table = pd.DataFrame(
        {
            "filename": names,
            "scene": [n.split("/")[1].split("-")[0] for n in names],
            "location": ["lisbon-1", "paris-2"][: len(names)],
            "device": ["a", "s2"][: len(names)],
            "split": ["train", "evaluate"][: len(names)],
        }
    )
    tau.write_metadata(root, table)
    return names


def test_derived_pieces_are_k_second_cuts_with_2022_names_and_metadata(tmp_path):
    names = _source(tmp_path / "src")
    counts = derive_1s(tmp_path / "src", tmp_path / "out", sample_rate=SR)
    assert counts == {"recordings": 2, "clips": 20}
    whole, _ = sf.read(tmp_path / "src" / names[0], dtype="int32")
    piece3, _ = sf.read(tmp_path / "out" / tau2022.piece_name(names[0], 3), dtype="int32")
    np.testing.assert_array_equal(piece3, whole[3 * SR : 4 * SR])
    table = tau2022.read_folds_1s(tmp_path / "out")
    assert len(table) == 20 and table.groupby("recording").size().eq(10).all()
    official = tmp_path / "official"  # "official" pieces: here the same cut, so the check passes
    (official / "audio").mkdir(parents=True)
    for k in (0, 9):
        name = tau2022.piece_name(names[1], k)
        (official / name).write_bytes((tmp_path / "out" / name).read_bytes())
    assert verify_against_official(tmp_path / "out", official) == 2


def test_a_differing_official_piece_is_named(tmp_path):
    names = _source(tmp_path / "src")
    derive_1s(tmp_path / "src", tmp_path / "out", sample_rate=SR)
    official = tmp_path / "official"
    (official / "audio").mkdir(parents=True)
    name = tau2022.piece_name(names[0], 4)
    samples, _ = sf.read(tmp_path / "out" / name, dtype="int32")
    samples[17] += 1 << 8  # one sample, one 24-bit step
    sf.write(official / name, samples, SR, subtype="PCM_24", format="WAV")
    with pytest.raises(InputError, match="first differing sample 17"):
        verify_against_official(tmp_path / "out", official)
    with pytest.raises(InputError, match="no official piece"):
        verify_against_official(tmp_path / "out", tmp_path / "src")


def test_a_clip_of_the_wrong_length_is_refused(tmp_path):
    _source(tmp_path / "src", lengths=(10 * SR - 1, 10 * SR))
    with pytest.raises(InputError, match="expected a mono 10-s clip"):
        derive_1s(tmp_path / "src", tmp_path / "out", sample_rate=SR)
