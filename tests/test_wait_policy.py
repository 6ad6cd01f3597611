"""How idle threads wait (speed only, never a result): the ``asc`` entry point bounds libgomp's spinning unless
the user chose a wait policy, and onnxruntime sessions for throughput work (the quantised evaluation) block
instead of spinning, with the same outputs bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from model_fixtures import randomised_model

from asc.__main__ import OMP_ENV, WAIT_POLICY_VARS, wait_policy


def test_the_entry_point_bounds_spinning_unless_the_user_chose():
    assert wait_policy({}) == OMP_ENV == {"GOMP_SPINCOUNT": "10000"}
    for var in WAIT_POLICY_VARS:
        assert wait_policy({var: "1"}) == {}  # a user's own policy is left alone


def test_the_policy_is_set_before_torch_is_imported():
    code = (
        "import os, sys; import asc.__main__ as m; os.environ.pop('GOMP_SPINCOUNT', None); "
        "os.environ.pop('OMP_WAIT_POLICY', None); os.environ.pop('KMP_BLOCKTIME', None); "
        "os.environ.update(m.wait_policy()); print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["10000", "False"]  # importing asc's entry point loads no torch (nor its OpenMP)


def test_a_session_without_spinning_gives_the_same_outputs(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from asc.deploy import export

    model = randomised_model({"widths": [11, 9, 20]})
    path = export.export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    x = torch.randn(3, 1, 40, 500).numpy()
    spinning, blocking = (
        export.onnx_session(path, threads=2),
        export.onnx_session(path, threads=2, spin=False),
    )
    config = blocking.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert config == "0"
    a = spinning.run(["logits"], {"mel": x})[0]
    assert np.array_equal(a, blocking.run(["logits"], {"mel": x})[0])
