"""The DCASE 2021/2022 Task 1 baseline CNN family (``model=dcase21``, ``model=dcase22``): asc/nets/model.py's
:class:`~asc.nets.model.BaselineCNN`, unchanged (its numbers, checkpoint keys, exact hand surgery, Keras row mapping and
fused training stay where they are). Layer table and sources: asc/nets/model.py, docs/dcase2021_baseline.md,
docs/tau2022_mobile.md §5.

| layer | DCASE 2021 (40 × 500 input) | params (torch / Keras) |
|---|---|---:|
| C1 | conv 7×7, 16, BN, ReLU | 784 + 16 / + 64 |
| C2 | conv 7×7, 16, BN, ReLU, max-pool 5×5, dropout 0.3 | 12,544 + 16 / + 64 |
| C3 | conv 7×7, 32, BN, ReLU, max-pool 4×100 (2022: 4×10), dropout 0.3 | 25,088 + 32 / + 128 |
| classifier | flatten 64 → dense 100, ReLU, dropout → dense 10 | 7,510 |
| total | | 46,118 torch; 46,246 Keras (BN moving statistics) |
"""

from __future__ import annotations

from typing import Any

from asc.nets.model import DEFAULT_SPEC, BaselineCNN, build_model, conv_names

__all__ = ["DEFAULT_SPEC", "BaselineCNN", "build", "conv_names"]


def build(**spec: Any) -> BaselineCNN:
    """The network of a ``model=dcase21|dcase22`` config node (its keys are asc/nets/model.py's spec)."""
    return build_model(spec)
