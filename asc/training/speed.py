"""The speed options of training and what they change: precision, torch.compile, the convolution formulation,
CUDA graphs; and :class:`SpeedOptions`, the one frozen object :func:`asc.training.train.train_many` takes for them, built
once from the config's ``runtime`` node (:meth:`SpeedOptions.of_runtime`).

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

``formulation`` (:mod:`asc.training.fused_conv`), ``graphs`` (:mod:`asc.training.graphs`), ``resident`` and ``group_size`` do not
change the arithmetic beyond float summation order: each is checked against the plain path on the CPU
(tests/test_gpu_paths.py) and on CUDA (tests/test_fused_cuda.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asc.core.errors import ConfigError
from asc.core.values import boolean, choice, fail, integer
from asc.training import formulations

if TYPE_CHECKING:
    import torch

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class SpeedOptions:
    """How :func:`asc.training.train.train_many` runs, never what it computes beyond float rounding (no artifact key holds
    any of these; the keyed ``precision`` is the recipe's). Each GPU branch also runs on the CPU under its switch
    (tests/test_gpu_paths.py).

    ``device`` (str or torch.device) trains there; ``fuse`` trains M same-width runs in one pass (False: one by
    one, same code with M = 1); ``eval_batch_size`` clips per selection-split batch; ``channels_last`` NHWC
    layout; ``compile`` torch.compile of the fused forward (:func:`compiled_forward`); ``progress`` tqdm bars
    (None: when stderr is a terminal); ``group_size`` most models per grouped pass (None:
    :func:`asc.training.device.auto_group_size`: 1 on the CPU, all on CUDA); ``formulation`` of the convolutions
    (:mod:`asc.training.fused_conv`); ``graphs`` CUDA-graph replay of repeated step shapes (:mod:`asc.training.graphs`; None = on
    CUDA unless ``compile``; True on the CPU emulates it); ``resident`` features on the device with batches
    gathered there (None = when they fit, :func:`asc.training.device.on_device`); ``dropout_rng``
    (:func:`asc.training.fused_ops.keep_mask`); ``cudnn_benchmark`` (:func:`asc.training.device.precision_mode`).
    Raises ValueError when ``graphs=True`` and ``compile`` are both set."""

    device: Any = "cpu"
    fuse: bool = True
    eval_batch_size: int = 64
    channels_last: bool = True
    compile: bool | str = False
    progress: bool | None = None
    group_size: int | None = None
    formulation: str = "auto"
    graphs: bool | None = None
    resident: bool | None = None
    dropout_rng: str = "auto"
    cudnn_benchmark: bool = False

    def __post_init__(self) -> None:
        if self.graphs and self.compile:
            raise ValueError("graphs=True and compile are exclusive: choose one way to cut launch overhead")

    @classmethod
    def of_runtime(cls, rt: Mapping[str, Any], device: Any) -> SpeedOptions:
        """The options of the config's ``runtime`` node (``fuse``, ``eval_batch_size``, ``channels_last``,
        ``progress`` and those of :func:`speed_options`) on ``device``. Raises ConfigError naming a bad value."""
        return cls(
            device=device,
            fuse=bool(rt["fuse"]),
            eval_batch_size=int(rt["eval_batch_size"]),
            channels_last=bool(rt["channels_last"]),
            progress=rt["progress"],
            **speed_options(rt),
        )


def check_runtime(rt: Mapping[str, Any]) -> None:
    """The config's ``runtime`` node (speed and I/O only): the device (cuda only where torch sees one: the one
    check here that imports torch), :func:`speed_options`, threads, workers, batch sizes and switches. Raises
    ConfigError naming the first bad key."""
    choice("runtime.device", rt["device"], ("auto", "cpu", "cuda"))
    if rt["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail("runtime.device", "cuda", "auto or cpu: torch sees no CUDA device here")
    speed_options(rt)  # compile, formulation, cuda_graphs, cudnn_benchmark
    if rt["num_threads"] is not None:
        integer("runtime.num_threads", rt["num_threads"], 1)
    for key in ("workers", "feature_batch_size", "eval_batch_size"):
        integer(f"runtime.{key}", rt[key], 1)
    for key in ("fuse", "channels_last"):
        boolean(f"runtime.{key}", rt[key])
    boolean("runtime.progress", rt["progress"], none=True)


def speed_options(rt: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`SpeedOptions`' fields for the config's ``runtime.compile``, ``runtime.formulation``,
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

    from asc.training.fused_forward import forward

    if compile is True:
        return torch.compile(forward, dynamic=True)
    if compile in COMPILE_MODES:
        return torch.compile(forward, mode=compile)
    return torch.compile(forward, dynamic=True, backend=compile)
