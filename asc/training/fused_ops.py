"""The element-wise math of the fused trainer (:mod:`asc.training.fused`): counter-based dropout masks and Adam on
stacked parameters, one value per model along the leading axis.

Dropout masks are counter-based: a key per (model seed, model step, layer) seeds them (see :func:`keep_mask`), so a
model gets the same mask whether it trains alone or fused, and resuming needs no RNG state. Adam is written here
with torch.optim.Adam's exact formula (single-tensor path, no weight decay) and a step count per model, so that
models that do not step are not touched (torch's Adam would move them through their momentum).
"""

from __future__ import annotations

import torch

DROPOUT_RNGS = ("auto", "generator", "hash")
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


def layer_keys(seeds: torch.Tensor, steps: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """:func:`dropout_keys` of layers 0..n_layers-1, the (seed, step) part hashed once for all of them."""
    k = mix32((seeds & _M32) ^ mix32((seeds >> 32) & _M32))
    k = mix32(k ^ (steps & _M32))
    return [mix32(k ^ layer) for layer in range(n_layers)]


def hash_uniform(keys: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """(batch, G, n) uniforms in [0, 1): element (b, g, j) hashes model g's key with b·n + j, the element's index
    in that model's own activation — one vectorised pass for all models (the CUDA path)."""
    if batch * n >= 2**32:
        raise ValueError(
            f"dropout layer of {batch}×{n} elements per model exceeds the 32-bit element counter"
        )
    idx = torch.arange(batch * n, device=keys.device, dtype=torch.int64).view(batch, 1, n)
    return (mix32(keys.view(1, -1, 1) ^ idx) >> 8).to(torch.float32) * 2.0**-24  # 24 bits: exact in float32


def keep_mask(keys: torch.Tensor, batch: int, n: int, p: float, rng: str = "auto") -> torch.Tensor:
    """(batch, G, n) dropout mask, 1/(1-p) where kept, model g's part drawn from its key alone. ``rng``:
    ``generator`` draws each model's uniforms from a generator seeded with its key (one fast mt19937 pass; the
    int64 hash costs ~13 % of a CPU step), ``hash`` from :func:`hash_uniform` (one kernel for all models instead
    of M, and no host sync: what a CUDA graph can capture); ``auto``: generator on the CPU, hash elsewhere. Both
    are counter-based — same mask fused or alone, no RNG state to checkpoint — but the two masks differ, as
    PyTorch's own dropout does across devices."""
    if rng not in DROPOUT_RNGS:
        raise ValueError(f"dropout rng={rng!r}; valid values: {', '.join(DROPOUT_RNGS)}")
    if rng == "generator" or (rng == "auto" and keys.device.type == "cpu"):
        u = torch.stack(
            [torch.rand(batch, n, generator=torch.Generator().manual_seed(k)) for k in keys.tolist()], 1
        ).to(keys.device)
    else:
        u = hash_uniform(keys, batch, n)
    return (u >= p).to(torch.float32) / (1.0 - p)


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


def scheduled_lr(
    lr: torch.Tensor, steps: torch.Tensor, warmup: torch.Tensor, total: torch.Tensor, cosine: torch.Tensor
) -> torch.Tensor:
    """(G,) float64 learning rates of the step that has ``steps`` (G,) steps before it: ``lr`` times
    :func:`asc.training.recipes.lr_factor` (linear warm-up over ``warmup`` steps, then constant, or cosine decay to 0 at
    ``total`` steps where ``cosine``), computed on the device so that a CUDA graph can capture it. A run without
    warm-up and schedule gets its ``lr`` times exactly 1."""
    s, w, n = steps.double(), warmup.double(), total.double()
    progress = (s - w) / (n - w).clamp(min=1)
    decay = (0.5 * (1 + torch.cos(torch.pi * progress))).clamp(min=0)
    factor = torch.where(s < w, s / w.clamp(min=1), torch.where(cosine, decay, torch.ones_like(s)))
    return lr.double() * factor


def decay_weights(param: torch.Tensor, lr: torch.Tensor, weight_decay: torch.Tensor) -> torch.Tensor:
    """torch.optim.AdamW's decoupled weight decay ``param * (1 - lr * weight_decay)`` of G stacked models (the
    factor computed in float64 and cast to the parameters' dtype, as torch's Python-float scalar is), applied
    before the Adam step."""
    shape = (-1,) + (1,) * (param.dim() - 1)
    return param * (1 - lr.double() * weight_decay.double()).to(param.dtype).view(shape)


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
