"""The one reader of a user's model file: a Keras 2.x HDF5 model of the DCASE21 family (asc/nets/keras_io.py) or one of
our checkpoints (asc/nets/model.py's DCASE format or asc/nets/checkpoint.py's ``asc-net-1`` format of zoo and custom
networks), told apart by content, not by name (a renamed file still loads).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from asc.nets import keras_io


def read_model_file(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model, extra) from ``path``: a Keras ``model.save("x.h5")`` file or any asc ``model.pt`` (a DCASE-family
    checkpoint or a zoo/custom network's ``asc-net-1`` checkpoint, rebuilt by replaying its pruning history).

    Raises FileNotFoundError (no such file), :class:`asc.nets.keras_io.KerasFormatError` (an HDF5 file that is not a
    DCASE21-family Keras model) or ValueError (a Keras 3 ``.keras`` archive, which is not read)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if keras_io.is_hdf5(path):
        model, extra = keras_io.load_keras_h5(path)
        return model.to(map_location), extra
    if path.suffix == ".keras":
        raise ValueError(
            f"{path} is a Keras 3 `.keras` archive, which is not supported; in Keras save the model as HDF5 "
            "with `model.save('model.h5')` and load that file"
        )
    # torch.save writes a zip archive; anything else would fail deep in pickle
    if not zipfile.is_zipfile(path):
        head = path.read_bytes()[:16]
        raise ValueError(
            f"{path} is empty (0 bytes)"
            if not head
            else f"{path} is neither an HDF5 file (Keras .h5) nor a PyTorch checkpoint (it starts {head!r})"
        )
    from asc.nets.checkpoint import load  # reads both asc checkpoint formats

    return load(path, map_location)
