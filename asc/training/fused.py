"""M same-width :class:`~asc.nets.model.BaselineCNN` networks as one wide network (horizontal fusion).

Every tensor of the M models is stacked along a new leading axis (conv weight (M, C_out, C_in, k, k), BN
statistics (M, C), dense weight (M, out, in), ...). A forward pass over the models ``sel`` takes input
(B, G, H, W), G = len(sel): channel g holds model sel[g]'s own mini-batch. The convs then run with
``groups=G`` (channel block g only sees channel g), BatchNorm runs over G·C channels (statistics are per
channel, so per model), pooling is per channel and the dense layers are one batched matmul; the loss is the sum
of each model's mean cross-entropy, so each model's gradient is its own. Nothing couples the models except float
summation order inside the grouped kernels.

Why not ``torch.func.stack_module_state`` + ``vmap``: vmap's batching rule for conv2d itself lowers to this
grouped convolution, so it buys no speed, and BatchNorm's in-place running-statistics update needs workarounds
under vmap (functorch's ``replace_all_batch_norm_modules_`` simply turns the statistics off). It was not
measured separately here; the fused/one-by-one ratio of this module is what ``scripts/bench.py`` measures.

Only some models may take a step (a run whose data is exhausted for this epoch, or a last short batch of
another size): their rows are gathered, trained and scattered back, so CPU time follows the real work. Adam is
element-wise, so it is written here on the stacked tensors with torch.optim.Adam's exact formula and a step count
per model; models that do not step are not touched (torch's Adam would move them through their momentum). AdamW's
decoupled weight decay and a per-step learning-rate schedule (warm-up, cosine: :mod:`asc.training.recipes`) are per model
too, computed from each model's own step count and total steps.

Dropout masks are counter-based: a key per (model seed, model step, layer) seeds them (see
:func:`asc.training.fused_ops.keep_mask`), so a model gets the same mask whether it trains alone or fused, and
resuming needs no RNG state. The forward pass itself (the network as ops on the stacked tensors) is
:mod:`asc.training.fused_forward`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from asc.training import distill, fused_conv
from asc.training.fused_forward import forward, plan
from asc.training.fused_ops import (
    adam_apply,
    adam_scalars,
    decay_weights,
    layer_keys,
    scheduled_lr,
)
from asc.training.losses import per_model_loss

log = logging.getLogger(__name__)


class FusedStack:
    """The stacked weights, BN statistics and Adam state of M same-shape models, on one device.

    The parameters of all layers live in one (M, P) tensor (``flat``; ``t`` holds views of it under the
    BaselineCNN names, beside the stacked BN buffers), and so do the Adam moments: an Adam step is ~10 kernels for
    every layer at once instead of ~10 per parameter tensor, which is what a launch-bound M = 1 step on a GPU
    pays for. Element-wise, so the arithmetic is the same as per tensor. ``formulation``: the convolutions'
    (:mod:`asc.training.fused_conv`; ``auto`` measures them on the first step of each shape on CUDA); ``dropout_rng``:
    :func:`asc.training.fused_ops.keep_mask`'s."""

    def __init__(
        self,
        models: Sequence[nn.Module],
        device: torch.device | str,
        *,
        channels_last: bool = True,
        formulation: str = "grouped",
        dropout_rng: str = "auto",
        multi_label: bool = False,
    ):
        shapes = {tuple((k, tuple(v.shape)) for k, v in m.state_dict().items()) for m in models}
        if len(shapes) != 1:
            raise ValueError(
                "fused models must have identical layer shapes (same widths); group runs by widths"
            )
        self.device = torch.device(device)
        self.ops = plan(models[0])
        self.m = len(models)
        self.param_names = [n for n, _ in models[0].named_parameters()]
        states = [m.state_dict() for m in models]
        self.shapes = {k: tuple(states[0][k].shape) for k in self.param_names}
        self.flat = torch.cat(
            [torch.stack([s[k].detach().reshape(-1) for s in states]) for k in self.param_names], 1
        ).to(self.device)
        views = self._views(self.flat)
        self.t = {
            k: views[k] if k in views else torch.stack([s[k].detach() for s in states]).to(self.device)
            for k in states[0]
        }
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.steps = torch.zeros(self.m, dtype=torch.int64, device=self.device)
        self.channels_last = channels_last
        self.formulation = fused_conv.check(formulation)
        self.chosen: str | None = None  # auto: the measured fastest, once per stack (see conv_for)
        self.timings: dict[str, float] = {}
        self.dropout_rng = dropout_rng
        self.multi_label = (
            multi_label  # the loss: binary cross-entropy per tag (asc.training.losses), else cross-entropy
        )
        self._idx: dict[tuple[int, ...], torch.Tensor] = {}

    def _views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for k in self.param_names:
            n = math.prod(self.shapes[k])
            out[k] = flat[:, start : start + n].unflatten(1, self.shapes[k])
            start += n
        return out

    # ------------------------------------------------------------------ per-model state
    def state_dict(self, m: int) -> dict[str, torch.Tensor]:
        """Model m's weights under BaselineCNN names, cloned to the CPU."""
        return {k: v[m].detach().cpu().clone() for k, v in self.t.items()}

    def load_state_dict(self, m: int, state: dict[str, torch.Tensor]) -> None:
        for k, v in self.t.items():
            v[m].copy_(state[k])

    def optimizer_state(self, m: int) -> dict[str, Any]:
        avg, avg_sq = self._views(self.exp_avg), self._views(self.exp_avg_sq)
        return {
            "step": int(self.steps[m]),
            "exp_avg": {k: v[m].cpu().clone() for k, v in avg.items()},
            "exp_avg_sq": {k: v[m].cpu().clone() for k, v in avg_sq.items()},
        }

    def load_optimizer_state(self, m: int, state: dict[str, Any]) -> None:
        self.steps[m] = int(state["step"])
        avg, avg_sq = self._views(self.exp_avg), self._views(self.exp_avg_sq)
        for k in self.param_names:
            avg[k][m].copy_(state["exp_avg"][k])
            avg_sq[k][m].copy_(state["exp_avg_sq"][k])

    # ------------------------------------------------------------------ compute
    def index(self, sel: list[int]) -> torch.Tensor | None:
        """None when sel is every model in order, else sel as a device tensor (made once per selection: no
        host-to-device copy per step, and a CUDA graph may capture steps that use it)."""
        if sel == list(range(self.m)):
            return None
        key = tuple(sel)
        if key not in self._idx:
            self._idx[key] = torch.tensor(sel, device=self.device)
        return self._idx[key]

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(memory_format=torch.channels_last) if self.channels_last else x

    def conv_for(self, g: int) -> str:
        """The formulation a pass of g models uses. Under auto: a single model is one plain convolution in every
        formulation (grouped); otherwise the one measured on this stack's first fused training step, which then
        holds for every shape of the stack (the ranking held from M = 8 to 128 on an H200, README
        "Performance"; one measurement per shape would cost more than it saves in ragged fine-tuning, where G
        changes often). Before any measurement (evaluation-only stacks): split on CUDA (2.2-3.3× grouped in that
        fp32 run), grouped on the CPU (:func:`asc.training.device.auto_group_size` makes it one plain convolution)."""
        if self.formulation != "auto":
            return self.formulation
        if g == 1:
            return "grouped"
        return self.chosen or ("split" if self.device.type == "cuda" else "grouped")

    def train_step(
        self,
        sel: list[int],
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        lr: torch.Tensor,
        eps: torch.Tensor,
        seeds: torch.Tensor,
        forward_fn: Any = forward,
        soft: dict[str, torch.Tensor] | None = None,
        schedule: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One Adam step of the models ``sel`` on x (B, G, H, W), y (B, G) (multi-label: (B, G, C)); ``lr``, ``eps``,
        ``seeds`` hold one value per model of the stack; ``soft``: the teachers' batch (:func:`asc.training.distill.gather`)
        for a distillation loss (:func:`asc.training.distill.kd_losses`; single-label only). ``schedule`` (None: constant
        ``lr``, no weight decay): per model of the stack ``warmup`` and ``total`` steps, ``cosine`` (bool) and
        ``weight_decay`` (AdamW's, decoupled; 0 for Adam), :func:`asc.training.fused_ops.scheduled_lr` turning ``lr`` into
        this step's. Returns the G mean losses (detached, on the device)."""
        idx = self.index(sel)
        flat, t = self._gathered(idx)
        params = {k: v.detach().requires_grad_() for k, v in self._views(flat).items()}
        t.update(params)
        steps = self.steps if idx is None else self.steps[idx]
        keys = layer_keys(seeds if idx is None else seeds[idx], steps, self.n_dropout)
        kw = dict(train=True, keys=keys, channels_last=self.channels_last, dropout_rng=self.dropout_rng)
        xin = self._input(x)
        if self.formulation == "auto" and self.chosen is None and len(sel) > 1:
            self._choose(forward_fn, t, params, xin, y, kw)
        logits = forward_fn(self.ops, t, xin, conv=self.conv_for(len(sel)), **kw)
        losses = per_model_loss(logits, y, self.multi_label)  # (G,)
        if soft is not None:
            if self.multi_label:
                raise ValueError("knowledge distillation (softmax KL) is for single-label tasks only")
            losses = distill.kd_losses(logits, losses, soft)
        grads = torch.autograd.grad(losses.sum(), list(params.values()))
        grad = torch.cat([gr.reshape(len(sel), -1) for gr in grads], 1)
        lr_g, eps_g = (lr, eps) if idx is None else (lr[idx], eps[idx])
        if schedule is not None:
            at = schedule if idx is None else {k: v[idx] for k, v in schedule.items()}
            lr_g = scheduled_lr(lr_g, steps, at["warmup"], at["total"], at["cosine"])
            flat = decay_weights(flat, lr_g, at["weight_decay"])
        steps = steps + 1
        m1 = self.exp_avg if idx is None else self.exp_avg.index_select(0, idx)
        m2 = self.exp_avg_sq if idx is None else self.exp_avg_sq.index_select(0, idx)
        new = adam_apply(flat, grad, m1, m2, *adam_scalars(steps, lr_g), eps=eps_g)
        self._scatter(idx, new, (m1, m2), steps, t)
        return losses.detach()

    def _gathered(self, idx: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The flat parameters (G, P) and the tensors of the models ``idx`` selects: the stack's own for every
        model (None), else gathered copies without the parameter views (the step puts its own in)."""
        if idx is None:
            return self.flat, dict(self.t)
        flat = self.flat.index_select(0, idx)
        return flat, {k: v.index_select(0, idx) for k, v in self.t.items() if k not in self.shapes}

    def _scatter(
        self,
        idx: torch.Tensor | None,
        new: torch.Tensor,
        moments: tuple[torch.Tensor, torch.Tensor],
        steps: torch.Tensor,
        t: dict[str, torch.Tensor],
    ) -> None:
        """Write a step of the models ``idx`` selects back into the stack: the new parameters and step counts, and
        for a gathered selection its Adam moments and the BN buffers of ``t`` too (for every model, None, those
        were updated in place)."""
        if idx is None:
            self.flat.copy_(new)
            self.steps += 1
            return
        for store, value in ((self.flat, new), (self.exp_avg, moments[0]), (self.exp_avg_sq, moments[1])):
            store.index_copy_(0, idx, value)
        self.steps.index_copy_(0, idx, steps)
        for k in self.t:  # BN running statistics and batch counters were updated on the gathered copies
            if k not in self.shapes:
                self.t[k].index_copy_(0, idx, t[k])

    @property
    def n_dropout(self) -> int:
        return sum(op[0] == "dropout" for op in self.ops)

    def _choose(self, forward_fn: Any, t: dict, params: dict, xin: torch.Tensor, y: torch.Tensor, kw: dict):
        """Time each formulation's forward + backward of this step (on copies of the BN statistics: the
        models are untouched) and keep the fastest for this stack."""

        def trial(conv: str) -> None:
            tt = {k: v if k in params else v.clone() for k, v in t.items()}
            out = forward_fn(self.ops, tt, xin, conv=conv, **kw)
            loss = per_model_loss(out, y, self.multi_label).sum()
            torch.autograd.grad(loss, list(params.values()))

        self.chosen, self.timings = fused_conv.choose(trial, self.device)
        log.info("fused convolutions: %s (seconds per step, measured: %s)", self.chosen, self.timings)

    @torch.no_grad()
    def logits(self, sel: list[int], x: torch.Tensor, forward_fn: Any = forward) -> torch.Tensor:
        """Eval-mode logits (B, G, classes) of the models ``sel`` on the shared input x (B, H, W)."""
        idx = self.index(sel)
        t = self.t if idx is None else {k: v.index_select(0, idx) for k, v in self.t.items()}
        xb = self._input(x.unsqueeze(1).expand(-1, len(sel), -1, -1))
        conv = self.conv_for(len(sel))
        return forward_fn(self.ops, t, xb, train=False, channels_last=self.channels_last, conv=conv)
