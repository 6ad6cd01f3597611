"""TAU 2022's 1-s layout cut from a TAU 2020 copy — a *checked* option, not a substitute (docs/tau2022_mobile.md §7).

The naming is the official one (every TAU 2022 name is a TAU 2020 name with the piece index k inserted; all ten
pieces of every clip exist). The offsets are the natural reading of "non-overlapping 1-second segments": piece k
is samples [44,100·k, 44,100·(k+1)) of the 10-s file. That reading could not be checked against official audio
here, so :func:`derive_1s` cuts a 2020 copy that way and :func:`verify_against_official` compares the result with
any official 1-s files the user has (e.g. ``dataset.archives=[meta, audio.16]``, 435 MB) sample by sample. Only
after it passes on a user's copy is a derived set the 2022 set; until then it is "TAU 2020 cut into 1-s pieces".

Config switch (for the dataset stage, wired by the lead): ``dataset.derive_from: <TAU 2020 root>`` with
``dataset=tau2022mobile`` makes the stage call :func:`derive_1s` into ``dataset.root`` instead of downloading the
audio, then :func:`verify_against_official` when ``dataset.derive_check`` names a folder of official pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from asc.core.atomic import atomic_path
from asc.core.errors import InputError
from asc.data import tau, tau2022


def derive_1s(source: str | Path, dest: str | Path, *, sample_rate: int = 44100) -> dict[str, int]:
    """Cut every clip of the TAU 2020 copy ``source`` (meta.csv, evaluation_setup/, audio/) into ten 1-s pieces
    under ``dest`` in TAU 2022 naming (24-bit PCM, as published), and write the 2022 metadata (meta.csv, fold
    files: each 2020 row as its ten pieces, in order). Pieces already present are kept (resume). Returns counts.
    InputError for a clip that is not 10 s at ``sample_rate``."""
    source, dest = Path(source), Path(dest)
    table = tau.read_folds(source)  # split = the fold: train | evaluate; clips without audio are dropped
    (dest / "audio").mkdir(parents=True, exist_ok=True)
    n = sample_rate
    for name in table["filename"]:
        targets = [dest / tau2022.piece_name(name, k) for k in range(tau2022.PIECES)]
        if all(t.is_file() for t in targets):
            continue
        audio, rate = sf.read(source / name, dtype="int32", always_2d=False)
        if rate != sample_rate or audio.ndim != 1 or len(audio) != tau2022.PIECES * n:
            raise InputError(
                f"{source / name}: {len(audio)} samples at {rate} Hz, expected a mono 10-s clip at {sample_rate} "
                "Hz (TAU 2020 Mobile); restore it from the TAU 2020 archives"
            )
        for k, target in enumerate(targets):
            with atomic_path(target) as tmp:
                sf.write(tmp, audio[k * n : (k + 1) * n], sample_rate, subtype="PCM_24", format="WAV")
    rows = pieces_table(table)
    tau.write_metadata(dest, rows)
    return {"recordings": len(table), "clips": len(rows)}


def verify_against_official(
    derived: str | Path, official: str | Path, names: Iterable[str] | None = None
) -> int:
    """Compare derived 1-s pieces with official ones sample by sample; returns how many were compared.
    ``official``: a folder holding ``audio/`` with official TAU 2022 pieces (any subset); ``names``: which to
    compare (default: every official piece found). InputError naming the first piece that differs, or when
    nothing could be compared."""
    derived, official = Path(derived), Path(official)
    if names is None:
        names = sorted(f"audio/{p.name}" for p in (official / "audio").glob("*.wav"))
    compared = 0
    for name in names:
        ours = derived / name
        if not ours.is_file():
            continue
        a, rate_a = sf.read(official / name, dtype="int32")
        b, rate_b = sf.read(ours, dtype="int32")
        if rate_a != rate_b or a.shape != b.shape or not np.array_equal(a, b):
            diff = int(np.argmax(a != b)) if a.shape == b.shape else -1
            raise InputError(
                f"{ours} differs from the official {official / name} (first differing sample {diff}, "
                f"{rate_b} vs {rate_a} Hz): the 1-s cut of TAU 2020 is not the official one; download TAU 2022 "
                "instead of deriving it"
            )
        compared += 1
    if not compared:
        raise InputError(
            f"no official piece under {official / 'audio'} has a derived counterpart in {derived}; extract an "
            "official audio zip there (e.g. dataset.archives=[meta, audio.16]) to check the derivation"
        )
    return compared


def pieces_table(table: pd.DataFrame) -> pd.DataFrame:
    """A TAU 2020 clip table as its 1-s pieces (filename renamed; every other column repeated)."""
    rows = table.loc[table.index.repeat(tau2022.PIECES)].reset_index(drop=True)
    rows["filename"] = [
        tau2022.piece_name(f, k)
        for f, k in zip(rows["filename"], np.tile(np.arange(tau2022.PIECES), len(table)), strict=True)
    ]
    return rows
