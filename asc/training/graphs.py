"""CUDA-graph replay of the fused training step: the launch-bound M = 1 baseline without launch overhead.

A 46k-parameter network at batch 16 runs ~300 small kernels per step; on a GPU the host cannot launch them as fast
as they run. A CUDA graph records one step's kernels once and replays them with one launch. The recorded step
reads and writes fixed addresses, so each shape (models selected, batch size) gets its own graph with its own
input buffers, and the step must do everything in place on the stack's tensors with no host synchronisation:
:meth:`asc.training.fused.FusedStack.train_step` is written so (device index tensors made once, counter-hash dropout,
per-model step counts on the device).

A shape is captured on its ``after``-th occurrence: the eager occurrences before it (on the capture stream,
fenced by synchronisations, as ``torch.cuda.make_graphed_callables`` warms up) prepare cuDNN's algorithm choice,
the autograd engine and the allocator without spending extra (untracked) training steps, and shapes that occur
once (a resumed run's odd step) never pay a capture. All graphs share one memory pool (they never run
concurrently) and at most ``max_graphs`` are kept: ragged fine-tuning steps beyond that run eagerly. A capture
that fails is logged and that shape runs eagerly from then on.

``emulate=True`` runs the same bookkeeping on any device without capturing (the "replay" calls the step on the
static buffers), so the CPU tests check that graphing changes nothing: buffers, occurrence counts, fallbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

log = logging.getLogger(__name__)


class GraphedSteps:
    """Runs ``step(sel, x, y)`` (returning a tensor) eagerly or through one CUDA graph per (sel, batch) shape."""

    def __init__(
        self,
        step: Callable[[list[int], torch.Tensor, torch.Tensor], torch.Tensor],
        device: torch.device,
        *,
        emulate: bool = False,
        after: int = 2,
        max_graphs: int = 8,
    ):
        if not emulate and device.type != "cuda":
            raise ValueError(
                f"CUDA graphs need a CUDA device, got {device}; use emulate=True to test on the CPU"
            )
        self.step, self.device, self.emulate = step, device, emulate
        self.after, self.max_graphs = after, max_graphs
        self.seen: dict[tuple, int] = {}
        self.graphs: dict[tuple, tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.failed: set[tuple] = set()
        self.replays = 0
        self.pool = None if emulate else torch.cuda.graph_pool_handle()
        self.stream = None if emulate else torch.cuda.Stream(device)  # warm-ups and captures, as PyTorch's
        # make_graphed_callables does: lazy per-stream state (cuBLAS workspaces) is made before the capture

    def __call__(self, sel: list[int], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        key = (tuple(sel), tuple(x.shape), x.dtype, tuple(y.shape))
        if key not in self.graphs:
            self.seen[key] = self.seen.get(key, 0) + 1
            if key in self.failed or len(self.graphs) >= self.max_graphs:
                return self.step(sel, x, y)
            if self.seen[key] < self.after:
                return self._warm_up(sel, x, y)
            self._capture(key, sel, x, y)
            if key not in self.graphs:
                return self.step(sel, x, y)
        graph, sx, sy, out = self.graphs[key]
        sx.copy_(x)
        sy.copy_(y)
        self.replays += 1
        if self.emulate:
            return self.step(sel, sx, sy)
        graph.replay()
        return out

    def _warm_up(self, sel: list[int], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """An eager occurrence of a shape that will be captured: on the capture stream, fenced by syncs."""
        if self.emulate:
            return self.step(sel, x, y)
        torch.cuda.synchronize(self.device)
        with torch.cuda.stream(self.stream):
            out = self.step(sel, x, y)
        torch.cuda.synchronize(self.device)
        return out

    def _capture(self, key: tuple, sel: list[int], x: torch.Tensor, y: torch.Tensor) -> None:
        sx, sy = torch.empty_like(x), torch.empty_like(y)
        if self.emulate:
            self.graphs[key] = (None, sx, sy, torch.empty(0))
            return
        graph = torch.cuda.CUDAGraph()
        try:
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph, pool=self.pool, stream=self.stream):
                out = self.step(sel, sx, sy)
        except RuntimeError as err:  # capture refused an op: this shape stays eager, training goes on
            self.failed.add(key)
            log.warning("CUDA graph capture of %s failed (%s); it runs eagerly", key[:2], str(err)[:300])
            torch.cuda.synchronize(self.device)
            return
        self.graphs[key] = (graph, sx, sy, out)
        log.debug("captured a CUDA graph of the step %s", key[:2])
