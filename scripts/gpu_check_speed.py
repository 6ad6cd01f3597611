"""The timed sections of scripts/gpu_check.py: the M = 1 baseline, fused steps, formulations, torch.compile."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from gpu_check_common import FULL, GOALS, bound, md_table, pct, rate, sync, verdict


def baseline_data(
    s: dict[str, Any], n_train: int, n_val: int, device: torch.device
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Class-structured random log-mel-sized data (speed does not depend on the values), made on the device."""
    from asc.nets.model import normalise_spec

    shape = normalise_spec(s["spec"])["input_shape"]
    g = torch.Generator(device=device).manual_seed(0)
    out = {}
    for name, n in (("train", n_train), ("val", n_val)):
        y = torch.randint(0, 10, (n,), generator=g, device=device)
        x = torch.randn(n, *shape, generator=g, device=device) + 0.1 * y[:, None, None]
        out[name] = (x, y)
    return out


def train_rate(
    s: dict[str, Any], device: torch.device, data: dict, n_train: int, epochs: int, **options: Any
) -> dict[str, float]:
    """One baseline run (M = 1) through train_many: seconds per epoch after the first (the first pays warm-up,
    capture or compilation) and the training examples/s of those epochs, evaluation included."""
    from asc.nets.model import build_model
    from asc.training.train import Recipe, Run, train_many

    recipe = Recipe(epochs=epochs, batch_size=s["batch"], lr=1e-3, adam_eps=1e-7, select_after=0)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="asc-gpu-check-") as tmp:
        run = Run(
            build_model(s["spec"]),
            torch.arange(n_train),
            seed=0,
            workdir=Path(tmp),
            recipe=recipe,
            label="m1",
        )
        start = time.perf_counter()
        h = train_many([run], data["train"], data["val"], device=device, progress=False, **options)[0]
        total = time.perf_counter() - start
    rounds = [e["round_seconds"] for e in h["history"]]
    later = rounds[1:] or rounds
    per_epoch = sum(later) / len(later)
    return {
        "first_epoch_s": rounds[0],
        "epoch_s": per_epoch,
        "examples_per_s": n_train / per_epoch,
        "total_s": total,
    }


def sec_baseline(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    s, dev = ctx["s"], ctx["device"]
    data = baseline_data(s, s["n_train"], s["n_val"], dev)
    cases = {
        "eager fp32": {"graphs": False},
        "CUDA graphs fp32": {"graphs": True},
        "CUDA graphs fp32, cudnn.benchmark": {"graphs": True, "cudnn_benchmark": True},
        "CUDA graphs bf16": {"graphs": True, "precision": "bf16"},
    }
    res = {}
    for name, opt in cases.items():
        res[name] = train_rate(s, dev, data, s["n_train"], s["epochs"], **opt)
        ctx["baseline"] = res  # partial
    full_epoch = {k: v["epoch_s"] * FULL["n_train"] / s["n_train"] for k, v in res.items()}
    rows = []
    for name, r in res.items():
        prec = "bf16" if "bf16" in name else "fp32"
        minutes = 200 * full_epoch[name] / 60
        rows.append(
            [
                name,
                f"{r['examples_per_s']:,.0f}",
                pct(r["examples_per_s"] / bound(prec)),
                f"{r['epoch_s']:.2f}",
                f"{minutes:.1f}",
                f"{r['first_epoch_s']:.2f}",
            ]
        )
    best = min(full_epoch, key=full_epoch.get)
    best_min = 200 * full_epoch[best] / 60
    goal = GOALS["baseline_200_epochs_min"]
    out = {
        "cases": res,
        "n_train": s["n_train"],
        "n_val": s["n_val"],
        "projected_200_epochs_min": {k: 200 * v / 60 for k, v in full_epoch.items()},
        "goal_min": goal,
        "best": best,
    }
    ctx["m1_rate"] = {k: v["examples_per_s"] for k, v in res.items()}
    md = md_table(
        [
            "M = 1, batch 16, train_many",
            "examples/s",
            "of bound",
            "s / epoch",
            "200 epochs, min",
            "1st epoch s",
        ],
        rows,
    )
    md += (
        f"\n\nEpochs of {FULL['n_train']:,} training clips (the stand-in's fold1_train minus 30 % held out) with "
        f"selection on {FULL['n_val']:,}, evaluation included. Goal: 200 epochs ≤ {goal:g} min (any precision): "
        f"best {best} {best_min:.1f} min, {verdict(best_min <= goal)}."
    )
    return out, md


def fused_step(
    s: dict[str, Any],
    m: int,
    device: torch.device,
    formulation: str,
    channels_last: bool = True,
    forward_fn: Callable[..., torch.Tensor] | None = None,
) -> Callable[[], int]:
    """One fused Adam step of m baseline networks (FusedStack.train_step, the code train_many runs), input on
    the device: the compute that fusion changes, without data gathering or evaluation."""
    from asc.nets.model import build_model
    from asc.training import fused, fused_forward

    torch.manual_seed(0)
    nets = [build_model(s["spec"]) for _ in range(m)]
    stack = fused.FusedStack(nets, device, formulation=formulation, channels_last=channels_last)
    batch = s["batch"]
    x = torch.randn(batch, m, *nets[0].spec["input_shape"], device=device)
    y = torch.randint(0, 10, (batch, m), device=device)
    kw = {
        "lr": torch.full((m,), 1e-3, dtype=torch.float64, device=device),
        "eps": torch.full((m,), 1e-7, device=device),
        "seeds": torch.arange(m, device=device),
    }
    sel = list(range(m))

    def run() -> int:
        stack.train_step(sel, x, y, **kw, forward_fn=forward_fn or fused_forward.forward)
        return batch * m

    run.stack = stack
    return run


def measure_fused(
    ctx: dict[str, Any],
    m: int,
    precision: str,
    formulation: str,
    channels_last: bool = True,
    bench: bool = False,
) -> float | str:
    from asc.training.device import precision_mode

    s, dev = ctx["s"], ctx["device"]
    try:
        with precision_mode(precision, dev, cudnn_benchmark=bench):
            step = fused_step(s, m, dev, formulation, channels_last)
            return rate(step, dev, s["min_s"], s["min_steps"])
    except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        return f"failed: {str(err).splitlines()[0][:120]}"


def sec_fused(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    s = ctx["s"]
    res: dict[str, dict[int, Any]] = {}
    rows = []
    for p in s["precisions"]:
        res[p] = {}
        for m in s["ms"]:
            res[p][m] = measure_fused(ctx, m, p, "auto")
            ctx["fused"] = res
        one = res[p][s["ms"][0]]
        for m, r in res[p].items():
            if isinstance(r, str):
                rows.append([p, m, r, "", "", ""])
                continue
            vs = f"{r / one:.2f}×" if isinstance(one, float) else "-"
            graphed = ctx.get("m1_rate", {}).get(f"CUDA graphs {p}")
            vs_g = f"{r / graphed:.2f}×" if graphed else "-"
            rows.append([p, m, f"{r:,.0f}", pct(r / bound(p)), vs, vs_g])
    fp32 = [r for m, r in res.get("fp32", {}).items() if m >= 32 and isinstance(r, float)]
    bf16 = [r for r in res.get("bf16", {}).values() if isinstance(r, float)]
    frac = max(fp32) / bound("fp32") if fp32 else float("nan")
    md = md_table(
        ["precision", "M", "examples/s", "of bound", "vs M = 1 (same code)", "vs M = 1 graphed train_many"],
        rows,
    )
    md += (
        f"\n\nformulation=auto (train_many's default; section forms compares them), batch {s['batch']} per network, "
        "Adam steps on device-resident input. Goals: fp32 "
        f"≥ {pct(GOALS['fused_fp32_bound_fraction_m32'])} of the bound at M ≥ 32: {pct(frac)}, "
        f"{verdict(frac >= GOALS['fused_fp32_bound_fraction_m32'])}; bf16 ≥ {GOALS['bf16_examples_per_s']:,.0f} "
        f"examples/s: {max(bf16, default=0):,.0f}, {verdict(max(bf16, default=0) >= GOALS['bf16_examples_per_s'])}."
    )
    return {"examples_per_s": res, "fp32_bound_fraction_m_ge_32": frac}, md


FORM_CASES = {  # column → (formulation, channels_last, cudnn.benchmark)
    "grouped": ("grouped", True, False),
    "split": ("split", True, False),
    "im2col": ("im2col", True, False),
    "split NCHW": ("split", False, False),
    "grouped, cudnn.benchmark": ("grouped", True, True),
    "split, cudnn.benchmark": ("split", True, True),
}


def sec_forms(ctx: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The formulations side by side (fp32 at form_ms; bf16 at the largest M without im2col), and the pick of
    formulation=auto on a fresh stack's first fused step."""
    from asc.training.device import precision_mode

    s, dev = ctx["s"], ctx["device"]
    res: dict[str, dict[str, Any]] = {}
    rows = []
    cases = [("fp32", m, FORM_CASES) for m in s["form_ms"]]
    cases.append(("bf16", s["form_ms"][-1], {k: v for k, v in FORM_CASES.items() if "im2col" not in k}))
    for precision, m, variants in cases:
        name = f"{precision} M={m}"
        res[name] = {k: measure_fused(ctx, m, precision, *v) for k, v in variants.items()}
        with precision_mode(precision, dev):
            step = fused_step(s, m, dev, "auto")
            step()
        res[name]["auto picked"] = step.stack.chosen
        res[name]["auto timings s"] = step.stack.timings
        ctx["forms"] = res
        rows.append(
            [name]
            + [
                f"{res[name][k]:,.0f}" if isinstance(res[name].get(k), float) else res[name].get(k, "")
                for k in FORM_CASES
            ]
            + [step.stack.chosen or "-"]
        )
    md = md_table(["case", *FORM_CASES, "auto picked"], rows)
    md += (
        "\n\nExamples/s of the fused Adam step, batch 16 per network; every formulation computes the same sums "
        "(tests/test_gpu_paths.py); cudnn.benchmark lets cuDNN time its algorithms per shape."
    )
    return {"examples_per_s": res}, md


def sec_compile(ctx: dict[str, Any], mode: bool | str = True) -> tuple[dict[str, Any], str]:
    """The M = 1 fused step (fp32) through torch.compile in ``mode``: the first call's seconds (tracing and
    compiling forward and backward) and the rate after it; compare the fused section's M = 1 (eager, same step)
    and the baseline section's CUDA graphs."""
    from asc.training.device import precision_mode
    from asc.training.speed import compiled_forward

    s, dev = ctx["s"], ctx["device"]
    mode = "aot_eager" if ctx["rehearse"] else mode
    name = "inductor" if mode is True else str(mode)
    with precision_mode("fp32", dev):
        step = fused_step(s, 1, dev, "grouped", forward_fn=compiled_forward(mode))
        start = time.perf_counter()
        step()
        sync(dev)
        first = time.perf_counter() - start
        r = rate(step, dev, s["min_s"], 20 * s["min_steps"])
    eager = ctx.get("fused", {}).get("fp32", {}).get(1)
    out = {"mode": name, "first_call_s": first, "examples_per_s": r}
    md = md_table(
        ["M = 1 fused step, fp32", "examples/s", "of bound", "1st call s (compile)"],
        [[f"torch.compile {name}", f"{r:,.0f}", pct(r / bound("fp32")), f"{first:.1f}"]],
    )
    return out, md + (f"\n\nEager, same step: {eager:,.0f} examples/s." if isinstance(eager, float) else "")
