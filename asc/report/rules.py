"""The DCASE Task 1 complexity rules per edition, as columns a results row can carry.

Two rules (docs/tau2022_mobile.md §6):

- ``dcase2021`` (Task 1A, TAU 2020): every parameter counts, BN moving statistics included (the Keras count), at
  its stored precision, 1 KB = 1,024 bytes, limit 128 KB; no MAC limit. The columns are
  :func:`asc.report.cost.memory_columns`' (``mem_{fp32,fp16,int8}_kb``, ``dcase_fit_bits``).
- ``dcase2022`` (2022–2025, TAU 2022): the bytes of ``model.parameters()`` at their stored precision — buffers
  such as BN running statistics are not counted (the 2025 baseline's ``get_model_size_bytes``) — 1 kB = 1,000
  bytes, limit 128,000 bytes, and at most 30,000,000 MACs per 1-s clip; in 2025 the limits hold for each device
  model on its own, which per-device fine-tuning keeps (same widths). 2022 fixed the precision to int8 (128 K
  parameters); ``d22_fit_bits`` covers it as the 8-bit case.

The published DCASE 2022 baseline figures are NeSsi's counts of its int8 TFLite model, not parameter counts:
:func:`nessi_macs` (29,234,920 for the baseline) and :func:`tflite_int8_bytes` (46,512) reproduce them, so a
pruned network can be set beside the published baseline on the same scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from asc.core.errors import ConfigError
from asc.nets.complexity import complexity, layer_macs
from asc.report.cost import BYTES_PER_PARAM, memory_columns

RULES = ("dcase2021", "dcase2022")
LIMIT_BYTES_2022 = 128_000  # 128 kB, 1 kB = 1000 B (2024 README: "with int8, 128,000 parameters")
LIMIT_MACS_2022 = 30_000_000  # per 1-s clip


def rule_for(dataset: Mapping[str, Any]) -> str:
    """The complexity rule a dataset config selects (``complexity_rule``; TAU 2020 sets default to dcase2021)."""
    rule = dataset.get("complexity_rule", "dcase2021")
    if rule not in RULES:
        raise ConfigError(
            f"dataset.complexity_rule={rule!r} is not valid: expected one of {', '.join(RULES)}"
        )
    return rule


def parameter_bytes(model: nn.Module, bytes_per_param: int | None = None) -> int:
    """Bytes of ``model.parameters()`` (buffers not counted): at each tensor's own dtype, or at
    ``bytes_per_param`` for every parameter (the precision it would be stored in)."""
    if bytes_per_param is not None:
        return int(sum(p.numel() for p in model.parameters()) * bytes_per_param)
    return int(sum(p.numel() * p.element_size() for p in model.parameters()))


def rule_columns(rule: str, model: nn.Module) -> dict[str, Any]:
    """The columns of ``rule`` for ``model`` (a BaselineCNN of any widths; MACs per clip of its input shape).

    dcase2021: ``mem_{fp32,fp16,int8}_kb`` (KB = 1024 B, Keras count) and ``dcase_fit_bits``.
    dcase2022: ``d22_params`` (parameters, buffers not counted), ``d22_mem_{fp32,fp16,int8}_kB`` (kB = 1000 B),
    ``d22_fit_bits`` (the widest of 32/16/8 bits within 128,000 bytes, 0 if none), ``d22_macs`` (conv + dense
    multiply-accumulates per clip), ``d22_macs_ok`` (≤ 30 M), ``d22_nessi_macs`` and ``d22_tflite_int8_bytes``
    (the published baseline's scale)."""
    if rule not in RULES:
        raise ConfigError(f"complexity rule {rule!r} is not valid: expected one of {', '.join(RULES)}")
    counts = complexity(model)
    if rule == "dcase2021":
        return memory_columns(counts["params_keras"])
    n = counts["params_torch"]
    cols: dict[str, Any] = {"d22_params": n}
    cols |= {f"d22_mem_{p}_kB": round(n * b / 1000, 3) for p, b in BYTES_PER_PARAM.items()}
    cols["d22_fit_bits"] = max(
        (8 * b for b in BYTES_PER_PARAM.values() if n * b <= LIMIT_BYTES_2022), default=0
    )
    cols["d22_macs"] = counts["macs"]
    cols["d22_macs_ok"] = counts["macs"] <= LIMIT_MACS_2022
    cols["d22_nessi_macs"] = nessi_macs(model)
    cols["d22_tflite_int8_bytes"] = tflite_int8_bytes(model)
    return cols


@torch.no_grad()
def nessi_macs(model: nn.Module) -> int:
    """MACs per clip as NeSsi counts the baseline's TFLite model (the published 29,234,920): convolutions as
    :func:`asc.nets.complexity.layer_macs`, each max pool as output elements × window, the first dense layer as
    (channels entering the flatten) × units — NeSsi takes the pooled tensor's last axis as the input width — and
    any later dense layer as inputs × units."""
    seen: dict[str, int] = {}

    def pool_hook(module: nn.MaxPool2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        k = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size,) * 2
        seen["pool"] = seen.get("pool", 0) + output[0].numel() * k[0] * k[1]

    def flatten_hook(module: nn.Flatten, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen["flatten_channels"] = inputs[0].shape[1]

    hooks = [m.register_forward_hook(pool_hook) for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    hooks += [m.register_forward_hook(flatten_hook) for m in model.modules() if isinstance(m, nn.Flatten)]
    try:
        per_layer = layer_macs(model)  # runs the forward pass the hooks listen to
    finally:
        for h in hooks:
            h.remove()
    modules = dict(model.named_modules())
    total, first_dense = seen.get("pool", 0), True
    for name, macs in per_layer.items():
        m = modules[name]
        if isinstance(m, nn.Linear) and first_dense and "flatten_channels" in seen:
            total += seen["flatten_channels"] * m.out_features
            first_dense = False
        else:
            total += macs
    return int(total)


def tflite_int8_bytes(model: nn.Module) -> int:
    """Bytes of the int8 TFLite model's weights as NeSsi reports them (the published 46,512): BN folded into the
    convolutions, weights int8 (1 byte), biases int32 (4 bytes, one per output channel or unit)."""
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            total += m.weight.numel() + 4 * m.weight.shape[0]
    return int(total)


def zoo_rule_columns(rule: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """:func:`rule_columns` of a zoo network from its counts (asc/nets/cost.py): the same memory and MAC columns;
    NeSsi's and the TFLite byte estimates, which model the DCASE baseline's own graph, are left empty (None)."""
    if rule not in RULES:
        raise ConfigError(f"complexity rule {rule!r} is not valid: expected one of {', '.join(RULES)}")
    if rule == "dcase2021":
        return memory_columns(counts["params_keras"])
    n = int(counts["params_torch"])
    cols: dict[str, Any] = {"d22_params": n}
    cols |= {f"d22_mem_{p}_kB": round(n * b / 1000, 3) for p, b in BYTES_PER_PARAM.items()}
    cols["d22_fit_bits"] = max(
        (8 * b for b in BYTES_PER_PARAM.values() if n * b <= LIMIT_BYTES_2022), default=0
    )
    cols["d22_macs"] = int(counts["macs"])
    cols["d22_macs_ok"] = counts["macs"] <= LIMIT_MACS_2022
    cols["d22_nessi_macs"] = None
    cols["d22_tflite_int8_bytes"] = None
    return cols
