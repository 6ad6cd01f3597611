"""The DCASE 2021 Task 1A baseline CNN, built from channel widths.

A model is fully described by its *spec* (a plain dict: widths, kernel, pools, ...) plus a state_dict, so a
pruned network is just the same builder called with smaller widths. The layout is deliberately a flat
``features`` Sequential (conv → BN → ReLU → [pool → dropout]) followed by a ``classifier`` Sequential
(flatten → dense → ReLU → dropout → dense): pruning surgery walks these two lists generically.

Keras-equivalence choices (docs/dcase2021_baseline.md): BN eps 1e-3 and momentum 0.01 (Keras 0.99),
Xavier-uniform conv weights with zero bias, dense weights U(-0.05, 0.05) with zero bias, 'same' padding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from asc.core.atomic import atomic_path
from asc.nets.model_spec import DEFAULT_SPEC, conv_names, normalise_spec

__all__ = [
    "DEFAULT_SPEC",
    "BaselineCNN",
    "build_model",
    "conv_names",
    "load_model",
    "normalise_spec",
    "save_model",
]


class BaselineCNN(nn.Module):
    def __init__(self, spec: dict[str, Any] | None = None):
        super().__init__()
        self.spec = normalise_spec(spec)
        s = self.spec
        layers: list[nn.Module] = []
        c_in = 1
        height, width = s["input_shape"]
        for c_out, pool in zip(s["widths"], s["pools"], strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, s["kernel"], padding=s["kernel"] // 2),
                nn.BatchNorm2d(c_out, eps=s["bn_eps"], momentum=s["bn_momentum"]),
                nn.ReLU(inplace=True),
            ]
            if pool is not None:
                layers += [nn.MaxPool2d(tuple(pool)), nn.Dropout(s["dropout"])]
                height, width = height // pool[0], width // pool[1]
            c_in = c_out
        if height < 1 or width < 1:
            raise ValueError(f"model.pools {s['pools']} shrink input {s['input_shape']} to nothing")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * height * width, s["dense"]),
            nn.ReLU(inplace=True),
            nn.Dropout(s["dropout"]),
            nn.Linear(s["dense"], s["n_classes"]),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -0.05, 0.05)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                m.reset_running_stats()

    def convs(self) -> dict[str, nn.Conv2d]:
        """Conv layers by paper name (C1, C2, ...), in forward order."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        return dict(zip(conv_names(self.spec), convs, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (batch, mel, frames) -> add the channel axis
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))


def build_model(spec: dict[str, Any] | None = None) -> BaselineCNN:
    return BaselineCNN(spec)


def save_model(model: BaselineCNN, path: str | Path, **extra: Any) -> None:
    """Atomically write (spec, state_dict, extra) — extra holds plain data such as the config or kept indices."""
    with atomic_path(path) as tmp:
        torch.save({"spec": model.spec, "state_dict": model.state_dict(), **extra}, tmp)


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[BaselineCNN, dict[str, Any]]:
    """Rebuild a model from a checkpoint written by :func:`save_model`; returns (model, everything else).
    A user's model file (a Keras ``.h5`` or one of our checkpoints) is read by :func:`asc.nets.model_file.read_model_file`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model checkpoint {path} does not exist; run the stage that produces it first"
        )
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or "spec" not in blob or "state_dict" not in blob:
        raise ValueError(
            f"{path} is not an asc checkpoint (no model spec and state_dict: a bare state_dict or another "
            "program's file); save models with asc, or Keras' model.save('x.h5')"
        )
    model = build_model(blob.pop("spec"))
    model.load_state_dict(blob.pop("state_dict"))
    return model, blob
