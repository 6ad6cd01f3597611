"""M same-width :class:`~asc.model.BaselineCNN` networks as one wide network (horizontal fusion).

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
per model; models that do not step are not touched (torch's Adam would move them through their momentum).

Dropout masks are counter-based: a key per (model seed, model step, layer) seeds them (see :func:`keep_mask`),
so a model gets the same mask whether it trains alone or fused, and resuming needs no RNG state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BETAS = (0.9, 0.999)  # torch.optim.Adam's (and Keras') defaults, which the recipe uses
_M32 = 0xFFFFFFFF


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply, two multipliers < 2^31 so int64 products never overflow)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x1B873593) & _M32
    return x ^ (x >> 16)


def dropout_keys(seeds: torch.Tensor, steps: torch.Tensor, layer: int) -> torch.Tensor:
    """One 32-bit key per model (int64 tensors of equal shape) for the dropout layer ``layer`` at ``steps``."""
    k = mix32((seeds & _M32) ^ mix32((seeds >> 32) & _M32))
    k = mix32(k ^ (steps & _M32))
    return mix32(k ^ layer)


def hash_uniform(keys: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """(batch, G, n) uniforms in [0, 1): element (b, g, j) hashes model g's key with b·n + j, the element's index
    in that model's own activation — one vectorised pass for all models (the CUDA path)."""
    if batch * n >= 2**32:
        raise ValueError(
            f"dropout layer of {batch}×{n} elements per model exceeds the 32-bit element counter"
        )
    idx = torch.arange(batch * n, device=keys.device, dtype=torch.int64).view(batch, 1, n)
    return (mix32(keys.view(1, -1, 1) ^ idx) >> 8).to(torch.float32) * 2.0**-24  # 24 bits: exact in float32


def keep_mask(keys: torch.Tensor, batch: int, n: int, p: float) -> torch.Tensor:
    """(batch, G, n) dropout mask, 1/(1-p) where kept, model g's part drawn from its key alone. On the CPU each
    model's uniforms come from a generator seeded with its key (one fast mt19937 pass; the int64 hash costs ~13 %
    of a CPU step), on CUDA from :func:`hash_uniform` (one kernel for all models instead of M). Both are
    counter-based — same mask fused or alone, no RNG state to checkpoint — but CPU and CUDA masks differ, as
    PyTorch's own dropout does across devices."""
    if keys.device.type == "cpu":
        u = torch.stack(
            [torch.rand(batch, n, generator=torch.Generator().manual_seed(k)) for k in keys.tolist()], 1
        )
    else:
        u = hash_uniform(keys, batch, n)
    return (u >= p).to(torch.float32) / (1.0 - p)


def plan(model: nn.Module) -> list[tuple[Any, ...]]:
    """The model's forward as a list of ops with the names of their tensors (walks features, then classifier)."""
    ops: list[tuple[Any, ...]] = []
    dropouts = 0
    for prefix, seq in (("features", model.features), ("classifier", model.classifier)):
        for i, m in enumerate(seq):
            name = f"{prefix}.{i}"
            if isinstance(m, nn.Conv2d):
                ops.append(("conv", name, m.padding))
            elif isinstance(m, nn.BatchNorm2d):
                ops.append(("bn", name, m.eps, m.momentum))
            elif isinstance(m, nn.ReLU):
                ops.append(("relu",))
            elif isinstance(m, nn.MaxPool2d):
                ops.append(("pool", m.kernel_size))
            elif isinstance(m, nn.Dropout):
                ops.append(("dropout", dropouts, m.p))
                dropouts += 1
            elif isinstance(m, nn.Flatten):
                ops.append(("flatten",))
            elif isinstance(m, nn.Linear):
                ops.append(("linear", name))
            else:
                raise TypeError(
                    f"cannot fuse layer {name} ({type(m).__name__}); asc.fused knows the BaselineCNN"
                )
    return ops


def forward(
    ops: Sequence[tuple[Any, ...]],
    t: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    train: bool,
    keys: list[torch.Tensor] | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Logits (B, G, classes) of G stacked models ``t`` (name → (G, ...)) on x (B, G, H, W). In train mode BN
    uses batch statistics and updates ``t``'s running statistics in place; ``keys`` (per dropout layer a (G,)
    tensor from :func:`dropout_keys`) switch dropout on. ``channels_last``: x is NHWC, so make the weights so."""
    batch, g = x.shape[:2]
    for op in ops:
        kind = op[0]
        if kind == "conv":
            w = t[f"{op[1]}.weight"]
            w = w.reshape(-1, *w.shape[2:])
            if channels_last:  # input and weights both channels_last: oneDNN's fast path (2-3× for the 16→16
                w = w.to(memory_format=torch.channels_last)  # conv). .to, not .contiguous: for C_in = 1 only
                # .to sets NHWC strides, and PyTorch infers the conv's output layout from the strides.
            x = F.conv2d(x, w, t[f"{op[1]}.bias"].reshape(-1), padding=op[2], groups=g)
        elif kind == "bn":
            n = op[1]
            x = F.batch_norm(
                x,
                t[f"{n}.running_mean"].view(-1),
                t[f"{n}.running_var"].view(-1),
                t[f"{n}.weight"].reshape(-1),
                t[f"{n}.bias"].reshape(-1),
                training=train,
                momentum=op[3],
                eps=op[2],
            )
            if train:
                t[f"{n}.num_batches_tracked"] += 1
        elif kind == "relu":
            x = F.relu(x, inplace=x.requires_grad)  # in place after BN/linear, as nn.ReLU(inplace=True)
        elif kind == "pool":
            x = F.max_pool2d(x, op[1])
        elif kind == "dropout" and keys is not None:
            mask = keep_mask(keys[op[1]], batch, x[0].numel() // g, op[2])
            x = x * mask.view(x.shape)
        elif kind == "flatten":
            x = x.reshape(batch, g, -1)  # (C, H, W) per model, as nn.Flatten does for one model
        elif kind == "linear":
            x = torch.einsum("bgi,goi->bgo", x, t[f"{op[1]}.weight"]) + t[f"{op[1]}.bias"]
    return x


def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    steps: torch.Tensor,
    lr: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """torch.optim.Adam's update (single-tensor path, no weight decay) of G stacked models at once; leading
    axis = model. ``steps`` (G,) counts each model's steps including this one, ``lr`` (G,) float64, ``eps`` (G,)
    float32. Updates the moments in place, returns the new parameters."""
    return adam_apply(param, grad, exp_avg, exp_avg_sq, *adam_scalars(steps, lr), eps=eps)


def adam_scalars(steps: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(step size, sqrt of the second bias correction), (G,) float32 each, computed once per step for every
    parameter tensor (on a GPU each op is a kernel launch). Torch computes the bias corrections in Python floats
    (float64) and its kernels cast them to float32: done alike here, so the result is the same."""
    bc1 = 1 - BETAS[0] ** steps.double()
    bc2_sqrt = (1 - BETAS[1] ** steps.double()).sqrt().float()
    return (-(lr.double() / bc1)).float(), bc2_sqrt


def adam_apply(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step_size: torch.Tensor,
    bc2_sqrt: torch.Tensor,
    *,
    eps: torch.Tensor,
) -> torch.Tensor:
    """:func:`adam_update` with the scalars of :func:`adam_scalars` precomputed."""
    shape = (-1,) + (1,) * (param.dim() - 1)
    exp_avg.lerp_(grad, 1 - BETAS[0])
    exp_avg_sq.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
    denom = (exp_avg_sq.sqrt() / bc2_sqrt.view(shape)).add_(eps.view(shape))
    return param + step_size.view(shape) * exp_avg / denom  # addcdiv's (value·a)/b order


class FusedStack:
    """The stacked weights, BN statistics and Adam state of M same-shape models, on one device."""

    def __init__(
        self, models: Sequence[nn.Module], device: torch.device | str, *, channels_last: bool = True
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
        self.t = {
            k: torch.stack([m.state_dict()[k].detach() for m in models]).to(self.device).contiguous()
            for k in models[0].state_dict()
        }
        self.exp_avg = {k: torch.zeros_like(self.t[k]) for k in self.param_names}
        self.exp_avg_sq = {k: torch.zeros_like(self.t[k]) for k in self.param_names}
        self.steps = torch.zeros(self.m, dtype=torch.int64, device=self.device)
        self.channels_last = channels_last

    # ------------------------------------------------------------------ per-model state
    def state_dict(self, m: int) -> dict[str, torch.Tensor]:
        """Model m's weights under BaselineCNN names, cloned to the CPU."""
        return {k: v[m].detach().cpu().clone() for k, v in self.t.items()}

    def load_state_dict(self, m: int, state: dict[str, torch.Tensor]) -> None:
        for k, v in self.t.items():
            v[m].copy_(state[k])

    def optimizer_state(self, m: int) -> dict[str, Any]:
        return {
            "step": int(self.steps[m]),
            "exp_avg": {k: v[m].cpu().clone() for k, v in self.exp_avg.items()},
            "exp_avg_sq": {k: v[m].cpu().clone() for k, v in self.exp_avg_sq.items()},
        }

    def load_optimizer_state(self, m: int, state: dict[str, Any]) -> None:
        self.steps[m] = int(state["step"])
        for k in self.param_names:
            self.exp_avg[k][m].copy_(state["exp_avg"][k])
            self.exp_avg_sq[k][m].copy_(state["exp_avg_sq"][k])

    # ------------------------------------------------------------------ compute
    def _gather(self, sel: list[int]) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """(index tensor or None when sel is every model, in order) and the selected rows (views or copies)."""
        if sel == list(range(self.m)):
            return None, dict(self.t)
        idx = torch.tensor(sel, device=self.device)
        return idx, {k: v.index_select(0, idx) for k, v in self.t.items()}

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(memory_format=torch.channels_last) if self.channels_last else x

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
    ) -> torch.Tensor:
        """One Adam step of the models ``sel`` on x (B, G, H, W), y (B, G); ``lr``, ``eps``, ``seeds`` hold one
        value per model of the stack. Returns the G mean losses (detached, on the device)."""
        idx, t = self._gather(sel)
        params = {k: t[k].detach().requires_grad_() for k in self.param_names}
        t.update(params)
        steps = self.steps if idx is None else self.steps[idx]
        seeds_g = seeds if idx is None else seeds[idx]
        n_drop = sum(op[0] == "dropout" for op in self.ops)
        keys = [dropout_keys(seeds_g, steps, layer) for layer in range(n_drop)]
        logits = forward_fn(
            self.ops, t, self._input(x), train=True, keys=keys, channels_last=self.channels_last
        )
        losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)  # (G,)
        grads = torch.autograd.grad(losses.sum(), list(params.values()))
        steps = steps + 1
        lr_g, eps_g = (lr, eps) if idx is None else (lr[idx], eps[idx])
        scalars = adam_scalars(steps, lr_g)
        for k, grad in zip(self.param_names, grads, strict=True):
            m1 = self.exp_avg[k] if idx is None else self.exp_avg[k].index_select(0, idx)
            m2 = self.exp_avg_sq[k] if idx is None else self.exp_avg_sq[k].index_select(0, idx)
            new = adam_apply(params[k].detach(), grad, m1, m2, *scalars, eps=eps_g)
            if idx is None:
                self.t[k].copy_(new)
            else:
                for store, value in ((self.t[k], new), (self.exp_avg[k], m1), (self.exp_avg_sq[k], m2)):
                    store.index_copy_(0, idx, value)
        if idx is None:
            self.steps += 1
        else:
            self.steps.index_copy_(0, idx, steps)
            for k in self.t:  # BN running statistics and batch counters were updated on the gathered copies
                if k not in params:
                    self.t[k].index_copy_(0, idx, t[k])
        return losses.detach()

    @torch.no_grad()
    def logits(self, sel: list[int], x: torch.Tensor, forward_fn: Any = forward) -> torch.Tensor:
        """Eval-mode logits (B, G, classes) of the models ``sel`` on the shared input x (B, H, W)."""
        _, t = self._gather(sel)
        xb = x.unsqueeze(1).expand(-1, len(sel), -1, -1)
        return forward_fn(self.ops, t, self._input(xb), train=False, channels_last=self.channels_last)
