"""Counted cost of one results row: parameter memory at three precisions and the DCASE 2021 limit.

Memory follows the DCASE 2021 Task 1A rule: every parameter counts, BN moving statistics included (our
``params_keras``), at the precision it is stored in, and 1 KB = 1024 bytes (128 KB = 32,768 fp32 parameters; the
official baseline's 46,246 parameters are its published 90.3 KB at fp16).

Latency is not a property of a row: it is measured by the report for all architectures side by side
(:mod:`asc.deploy.latency`) and joined at report time (:mod:`asc.report.cost_points`).
"""

from __future__ import annotations

__all__ = ["BYTES_PER_PARAM", "DCASE_LIMIT_KB", "KB", "memory_columns"]

KB = 1024
DCASE_LIMIT_KB = 128.0
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}


def memory_columns(params: int) -> dict[str, float | int]:
    """``mem_{fp32,fp16,int8}_kb``: parameter memory in KB (1024 bytes) of ``params`` parameters (pass the Keras
    count, ``params_keras``), and ``dcase_fit_bits``: the widest precision (32, 16 or 8 bits) at which they fit
    the DCASE 2021 Task 1A limit of 128 KB, 0 if none does."""
    params = int(params)
    cols: dict[str, float | int] = {
        f"mem_{p}_kb": round(params * b / KB, 2) for p, b in BYTES_PER_PARAM.items()
    }
    fits = [8 * b for b in BYTES_PER_PARAM.values() if params * b <= DCASE_LIMIT_KB * KB]
    cols["dcase_fit_bits"] = max(fits, default=0)
    return cols
