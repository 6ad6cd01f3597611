"""The speed options of training and what they change: precision, torch.compile, the convolution formulation,
CUDA graphs; and their mapping from the config's ``runtime`` node to :func:`asc.train.train_many`'s arguments.

``precision`` and ``compile`` (expected effects; scripts/gpu_check.py measures their speed):
``fp32`` (default) keeps the paper's numbers and makes fused and one-by-one agree to float rounding; it also
switches TF32 off, which cuDNN convolutions otherwise use by default on Ampere and later. ``tf32`` lets CUDA
matmuls/convs round their inputs to a 10-bit mantissa (~5e-4 relative error per product): a different float
trajectory, like another reduction order but larger. ``bf16`` autocasts the forward pass to bfloat16 (8-bit
mantissa; BN statistics, loss and Adam stay float32): the fastest on a GPU, for timing and exploration; a
result made with it is not the paper's fp32 recipe, so keep it out of comparisons with fp32 runs.
``compile=True`` wraps the fused forward in ``torch.compile`` (a mode of :data:`COMPILE_MODES` picks inductor's
mode; another string names the backend, e.g. "aot_eager" to check the capture without a compiler): the same
math, but generated kernels reorder float sums (differences at float rounding level, amplified by training as
any reordering is — see tests/test_fused.py) and the first steps of each new (batch, models) shape pay the
compilation. ``graphs`` (CUDA graphs, the default on CUDA) replays the repeated step shapes with the eager
kernels, so it changes no arithmetic; ragged steps run eagerly. It and ``compile`` are exclusive.

``formulation`` (:mod:`asc.fused_conv`), ``graphs`` (:mod:`asc.graphs`), ``resident`` and ``group_size`` do not
change the arithmetic beyond float summation order: each is checked against the plain path on the CPU
(tests/test_gpu_paths.py) and on CUDA (tests/test_fused_cuda.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from asc import formulations
from asc.errors import ConfigError

if TYPE_CHECKING:
    import torch

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def speed_options(rt: Mapping[str, Any]) -> dict[str, Any]:
    """train_many's keyword arguments for the config's ``runtime.compile``, ``runtime.formulation``,
    ``runtime.cuda_graphs`` and ``runtime.cudnn_benchmark`` (speed only: no artifact key holds them). Raises
    ConfigError naming a bad value."""
    comp, form, graphs = (
        rt.get("compile", False),
        rt.get("formulation", "auto"),
        rt.get("cuda_graphs", "auto"),
    )
    if not isinstance(comp, (bool, str)) or comp == "":
        raise ConfigError(
            f"runtime.compile={comp!r} is not valid: expected false, true, one of {', '.join(COMPILE_MODES)} "
            "or a torch.compile backend name"
        )
    if form not in formulations.CHOICES:
        raise ConfigError(
            f"runtime.formulation={form!r} is not valid: expected one of {', '.join(formulations.CHOICES)}"
        )
    if graphs not in ("auto", True, False):
        raise ConfigError(f"runtime.cuda_graphs={graphs!r} is not valid: expected auto, true or false")
    bench = rt.get("cudnn_benchmark", False)
    if not isinstance(bench, bool):
        raise ConfigError(f"runtime.cudnn_benchmark={bench!r} is not valid: expected true or false")
    if isinstance(comp, str) and comp not in COMPILE_MODES and comp not in _backends():
        raise ConfigError(
            f"runtime.compile={comp!r} is not valid: expected false, true, one of {', '.join(COMPILE_MODES)} or "
            "a torch.compile backend (torch._dynamo.list_backends(None): e.g. inductor, eager, aot_eager)"
        )
    if graphs is True and comp:
        raise ConfigError("runtime.cuda_graphs=true and runtime.compile are exclusive: set one of them")
    return {
        "compile": comp,
        "formulation": form,
        "graphs": None if graphs == "auto" else graphs,
        "cudnn_benchmark": bench,
    }


def _backends() -> list[str]:
    """torch.compile's backends: a backend name is the one speed option that needs torch to check."""
    import torch

    return torch._dynamo.list_backends(None)


def compiled_forward(compile: bool | str) -> Callable[..., torch.Tensor]:
    """torch.compile of the fused forward: ``True`` (inductor), a mode of :data:`COMPILE_MODES` (inductor in
    that mode; reduce-overhead adds CUDA graphs) or another string, which names a backend ("eager", "aot_eager":
    the capture without a compiler, for the CPU tests)."""
    import torch

    from asc import fused

    if compile is True:
        return torch.compile(fused.forward, dynamic=True)
    if compile in COMPILE_MODES:
        return torch.compile(fused.forward, mode=compile)
    return torch.compile(fused.forward, dynamic=True, backend=compile)
