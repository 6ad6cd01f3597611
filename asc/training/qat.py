"""Quantisation-aware fine-tuning (``finetune.qat: true``) of the DCASE family's sequential CNN (asc/nets/model.py),
with PyTorch's eager-mode quantisation (torch.ao.quantization; PyTorch docs, "Quantization", section
"Quantization Aware Training for Static Quantization"): each conv + BN + ReLU and the dense + ReLU fused
(``fuse_modules_qat``), fake quantisation inserted (``prepare_qat`` with the quantised engine's default QAT
qconfig: per-channel symmetric int8 weights, uint8 activations), the network fine-tuned with the fine-tuning
recipe, then converted to an int8 network (``convert``) whose scores are the row's metric columns.

Why eager mode: the DCASE family is a flat ``features`` / ``classifier`` Sequential whose fusable triples
``fuse_modules`` names directly, with no tracing. The zoo's other families (residual additions, depthwise
convs, squeeze-excitation, a custom factory's any module) would need graph-mode quantisation (FX or PT2E) and
per-family fusion rules: ``finetune.qat=true`` on them is refused at planning (:func:`check`).

Training: one network at a time (asc/training/train_plain.py; the fused trainer's stacked kernels have no fake
quantisation), its selection on the fake-quantised network. Stored as the step's model: the float weights QAT
trained (conv, BN, dense; the fake quantisers dropped) as an ordinary checkpoint, so export, latency and the
quantise stage (whose ONNX int8 column is then a post-training quantisation of those weights) read it as any.
The engine (``x86``, ``fbgemm``, ``qnnpack``: torch's default on the machine) is the row's ``qat_backend``,
not keyed, as the device is not.

PyTorch marks torch.ao.quantization as deprecated in favour of torchao (github.com/pytorch/ao issue 2259) yet
ships it (2.14 here); its deprecation warnings are silenced here (:func:`_quiet`), and a move to torchao's
eager ``quantize_`` API is the path when torch drops it.

Keyed only when on (``qat: true`` in the fine-tuning step's key), so every existing key stays; its rows carry
``qat`` and pool apart from plain fine-tuning (asc.report.rows.pooling_key).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from asc.core.errors import ConfigError

PREFERRED_ENGINES = ("x86", "fbgemm", "qnnpack")  # the first torch supports here is the int8 engine


def wanted(finetune: Mapping[str, Any]) -> bool:
    """Whether ``finetune.qat`` is on; ConfigError (one line) for a value that is not a boolean."""
    value = finetune.get("qat", False)
    if not isinstance(value, bool):
        raise ConfigError(f"finetune.qat={value!r} is not valid: expected true or false")
    return value


def keyed(finetune: Mapping[str, Any]) -> dict[str, Any]:
    """What a fine-tuning step's key gains: ``{"qat": True}`` when on, nothing otherwise (keys stay)."""
    return {"qat": True} if wanted(finetune) else {}


def check(cfg: Mapping[str, Any]) -> None:
    """At planning: ``finetune.qat=true`` only on the DCASE family (its sequential CNN) and single-label or
    tagging data alike, and with ``finetune.eval_precision=fp32``: a QAT row is scored as its int8 network on the
    CPU (asc/pipeline/stages/finetune.py), so another evaluation precision would change the key and nothing else;
    raises ConfigError in one line naming the value and the fix."""
    if not wanted(cfg["finetune"]):
        return
    from asc.nets import family_of

    fam = family_of(cfg["model"])
    if not fam.fusable:  # the DCASE family (asc/nets/model.py's flat Sequential) is the fusable one
        raise ConfigError(
            f"finetune.qat=true is not supported for model={fam.name}: quantisation-aware fine-tuning covers the "
            "DCASE family's sequential CNN (model=dcase21, dcase22); set finetune.qat=false"
        )
    precision = cfg["finetune"].get("eval_precision", "fp32")
    if precision != "fp32":
        raise ConfigError(
            f"finetune.qat=true with finetune.eval_precision={precision}: a QAT network is scored as its int8 "
            "network on the CPU, so the evaluation precision has no effect; set finetune.eval_precision=fp32 (the "
            "quantise stage reports fp16 accuracy)"
        )


def engine() -> str:
    """The int8 engine: torch's current one (its default for the machine: ``x86`` on x86 CPUs), else the first
    of :data:`PREFERRED_ENGINES` it supports."""
    import torch

    current = torch.backends.quantized.engine
    if current in PREFERRED_ENGINES:
        return current
    return next(e for e in PREFERRED_ENGINES if e in torch.backends.quantized.supported_engines)


def _net_class():
    import torch
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub

    class QATNet(nn.Module):
        """The DCASE CNN between a quantise and a dequantise stub: (batch, mel, frames) → (batch, classes)."""

        def __init__(self, features: nn.Sequential, classifier: nn.Sequential):
            super().__init__()
            self.quant, self.dequant = QuantStub(), DeQuantStub()
            self.features, self.classifier = features, classifier

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 3:
                x = x.unsqueeze(1)
            return self.dequant(self.classifier(self.features(self.quant(x))))

    return QATNet


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization's deprecation notices (the API, quantised tensors, ``reduce_range``) silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*(deprecated|reduce_range).*", category=UserWarning)
        yield


def conv_positions(features: Any) -> list[int]:
    """Positions of the convs in a DCASE CNN's ``features`` (each followed by its BN and ReLU)."""
    from torch import nn

    return [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]


def prepare(model: Any) -> Any:
    """A fake-quantised copy of ``model`` (an asc.nets.model.BaselineCNN) ready to train: conv+BN+ReLU and
    dense+ReLU fused, the engine's default QAT qconfig, ``prepare_qat``; in train mode on the CPU. ``model`` is
    not changed."""
    from torch.ao import quantization as tq

    src = copy.deepcopy(model).cpu().train()
    net = _net_class()(src.features, src.classifier)
    groups = [
        [f"features.{i}", f"features.{i + 1}", f"features.{i + 2}"] for i in conv_positions(net.features)
    ]
    groups.append(["classifier.1", "classifier.2"])  # dense → ReLU
    with _quiet():
        tq.fuse_modules_qat(net, groups, inplace=True)
        net.qconfig = tq.get_default_qat_qconfig(engine())
    net.spec = dict(model.spec)  # the float network's spec: float_model rebuilds it
    with _quiet():
        return tq.prepare_qat(net, inplace=True)


def convert(net: Any) -> Any:
    """The int8 network of a trained fake-quantised ``net`` (a copy, in eval mode on the CPU)."""
    import torch
    from torch.ao import quantization as tq

    if torch.backends.quantized.engine != engine():
        torch.backends.quantized.engine = engine()
    with _quiet():
        return tq.convert(copy.deepcopy(net).cpu().eval(), inplace=False)


def float_model(net: Any) -> Any:
    """The asc.nets.model.BaselineCNN of a fake-quantised ``net``'s trained float weights: each fused conv's weight
    and bias, its BN's parameters and statistics, the dense layers' (the fake quantisers dropped)."""
    from asc.nets.model import build_model

    out = build_model(net.spec)
    state = {k: v for k, v in net.state_dict().items() if "fake_quant" not in k and "post_process" not in k}
    for i in conv_positions(out.features):
        for k in list(state):
            if k.startswith(f"features.{i}.bn."):
                state[f"features.{i + 1}." + k.removeprefix(f"features.{i}.bn.")] = state.pop(k)
    wanted_keys = out.state_dict().keys()
    out.load_state_dict({k: v for k, v in state.items() if k in wanted_keys}, strict=True)
    return out.eval()
