"""Check Keras .h5 models against asc's h5py-only loader (the check outside CI for the authors' networks).

    python scripts/check_keras_h5.py unpruned_model.h5 Pruned_Model/C1_best_model_dcase2021.h5 ...

For each file: the widths and pools asc reads, the Keras parameter count (the file's weights, BN moving statistics
included) beside asc's own count of the loaded model (they must agree), and MACs. When TensorFlow is importable it
also runs Keras and asc on the same random input and compares the class probabilities (Keras ends in a softmax, asc
outputs logits), which must agree to --atol (1e-4). Exit status 1 if any file fails a check.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from asc.data.fingerprint import file_digest
from asc.nets.complexity import complexity
from asc.nets.model_file import read_model_file


def keras_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    """The Keras model's own output on ``x`` (batch, mel, frames); needs TensorFlow."""
    import tensorflow as tf

    model = tf.keras.models.load_model(str(path), compile=False)
    return np.asarray(model.predict(x[..., None], verbose=0), dtype=np.float64)


def check(path: Path, *, atol: float, batch: int, with_keras: bool) -> bool:
    model, extra = read_model_file(path)
    counts = complexity(model)
    spec = model.spec
    print(f"{path}  sha256 {file_digest(path)[:12]}")
    print(
        f"  widths {spec['widths']}  pools {spec['pools']}  dense {spec['dense']}  classes {spec['n_classes']}"
        f"  input {spec['input_shape']}  BN eps {spec['bn_eps']:g}"
    )
    same = extra["keras_params"] == counts["params_keras"]
    print(
        f"  Keras params {extra['keras_params']:,} (file) / {counts['params_keras']:,} (asc)"
        f"{'' if same else '  MISMATCH'}  PyTorch params {counts['params_torch']:,}  MACs {counts['macs']:,}"
    )
    if not with_keras:
        return same
    x = np.random.default_rng(0).normal(size=(batch, *spec["input_shape"])).astype(np.float32)
    with torch.no_grad():
        ours = torch.softmax(model(torch.from_numpy(x)), dim=1).double().numpy()
    theirs = keras_probabilities(path, x)
    diff = float(np.abs(ours - theirs).max())
    agree = bool(np.all(ours.argmax(1) == theirs.argmax(1)))
    ok = diff <= atol
    print(
        f"  Keras vs asc: max |probability difference| {diff:.2e} (allowed {atol:g}), same argmax: {agree}"
        f"{'' if ok else '  FAIL'}"
    )
    return same and ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path, help="Keras 2.x HDF5 models (model.save('x.h5'))")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=8, help="random clips per comparison")
    parser.add_argument(
        "--no-keras", action="store_true", help="skip the output comparison even with TensorFlow"
    )
    args = parser.parse_args(argv)
    with_keras = importlib.util.find_spec("tensorflow") is not None and not args.no_keras
    if args.no_keras:
        print("--no-keras: comparing parameter counts only")
    elif not with_keras:
        print(
            "TensorFlow is not importable: comparing parameter counts only (pip install tensorflow to compare "
            "outputs)"
        )
    failed = []
    for path in args.files:
        try:
            if not check(path, atol=args.atol, batch=args.batch, with_keras=with_keras):
                failed.append(path)
        except (OSError, ValueError) as err:
            print(f"{path}: {err}")
            failed.append(path)
    print(f"{len(args.files) - len(failed)}/{len(args.files)} file(s) passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
