"""The timed grid: an experiment file (default the paper's whole grid) end to end on the TAU-sized stand-in.

Used by ``scripts/bench.py --section grid``. It runs the real pipeline (plan → execute) on ``dataset=standin``
in a temporary workspace, once per mode (fused, one-by-one), times each stage and counts the examples every
training run saw, then projects the full grid (scale 1, the experiment's own epochs and repeats) from the
measured fine-tuning rate. ``quick`` shrinks the job for a CPU: the smallest scale (asc.data.standin.MIN_SCALE),
1 epoch, 1 repeat, a narrow network (widths [4, 4, 8]; bench.py --paper-widths keeps the experiment's), no quantise stage, no warm-up run, and the data fractions that so small a set cannot stratify are dropped (printed).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STAGE_GROUPS = (("data", "features"), ("baseline", "train"), ("prune", "prune"), ("finetune", "finetune"))


def compose(overrides: list[str]) -> dict[str, Any]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def job_config(
    experiment: str,
    *,
    scale: float,
    quick: bool,
    device: str,
    fuse: bool,
    ws: Path,
    narrow: bool | None = None,
) -> dict[str, Any]:
    """The experiment on the stand-in in workspace ``ws``; quick: one epoch and one repeat per run; narrow (default:
    quick): widths [4, 4, 8] instead of the experiment's network."""
    overrides = [
        f"experiment={experiment}",
        "dataset=standin",
        f"dataset.scale={scale}",
        f"runtime.device={device}",
        f"runtime.fuse={str(fuse).lower()}",
        "runtime.latency.measure=false",
        f"paths.data={ws / 'data'}",
        f"paths.store={ws / 'store'}",
        f"paths.results={ws / 'results'}",
    ]
    if quick:
        overrides += [
            "train.epochs=1",
            "train.select_after=0",
            "finetune.epochs=1",
            "finetune.select_after=0",
            "quantise.enabled=false",  # not a timed stage group: its ONNX exports would only lengthen the smoke run
        ]
    if quick if narrow is None else narrow:
        # a quick run's rates are never read: a quarter of the paper's widths proves every stage and run at about
        # a tenth of the convolutions' compute (the projection still counts the experiment's own runs)
        overrides.append("model.widths=[4,4,8]")
    cfg = compose(overrides)
    if quick:
        from asc.pipeline.stages.prune import block_repeats

        for block in cfg["runs"]:
            block["repeats"] = min(1, block_repeats(block, cfg))
    return cfg


def feasible_fractions(cfg: dict[str, Any]) -> list[float]:
    """Drop the fractions the built index cannot stratify (asc.pipeline.stages.finetune.check_fractions); returns them."""
    from asc.data.tau import load_index
    from asc.pipeline.plan import make_plan
    from asc.pipeline.stages.finetune import check_fractions

    index = next(s for s in make_plan(cfg) if s.stage == "index")
    table = load_index(Path(cfg["paths"]["store"]) / "index" / index.key)
    train_on = cfg["finetune"]["train_on"]
    pool = table[table["split"] == "train"] if train_on == "train" else table[table["split"] != "evaluate"]
    dropped = set()
    for block in cfg["runs"]:
        keep = []
        for f in block["fractions"]:
            try:
                check_fractions(pool, [f])
                keep.append(f)
            except ValueError:
                dropped.add(f)
        block["fractions"] = keep
    return sorted(dropped)


def run_grid(cfg: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Execute the job stage group by stage group; seconds per group, runs and examples trained."""
    from asc.pipeline.execute import execute
    from asc.pipeline.plan import make_plan
    from asc.pipeline.validate import validate

    validate(cfg)
    seconds, dropped = {}, []
    for name, upto in STAGE_GROUPS:
        if name == "baseline" and quick:  # the index exists now: fit the fractions to the smaller set
            dropped = feasible_fractions(cfg)
        start = time.perf_counter()
        execute(make_plan(cfg), cfg, upto=upto, report=False)
        seconds[name] = time.perf_counter() - start
    rows = pd.read_csv(Path(cfg["paths"]["results"]) / "results.csv")
    examples = {s: float((r["train_examples"] * r["epochs"]).sum()) for s, r in rows.groupby("stage")}
    runs = rows["stage"].value_counts().to_dict()
    return {"seconds": seconds, "examples": examples, "runs": runs, "dropped": dropped}


def full_grid_examples(experiment: str) -> dict[str, float]:
    """Examples the experiment trains at scale 1 with its own epochs and repeats (from the plan: nothing runs)."""
    from asc.pipeline.plan import approx_examples_per_epoch, make_plan

    cfg = job_config(experiment, scale=1.0, quick=False, device="cpu", fuse=True, ws=Path("/nonexistent"))
    per_epoch, steps = approx_examples_per_epoch(cfg), make_plan(cfg)
    baseline = sum(per_epoch(s) * int(cfg["train"]["epochs"]) for s in steps if s.stage == "train")
    finetune = sum(per_epoch(s) * int(cfg["finetune"]["epochs"]) for s in steps if s.stage == "finetune")
    return {"baseline": baseline, "finetune": finetune, "runs": sum(s.stage == "finetune" for s in steps)}


def bench_grid(
    *,
    experiment: str,
    scale: float | None,
    quick: bool,
    narrow: bool | None = None,
    device: str,
    modes: list[str],
    table: Callable[[Sequence[str], Sequence[Sequence[str]]], str],
) -> None:
    """Run and print; ``table`` formats rows (bench.py's); ``narrow`` (default: quick): widths [4, 4, 8]."""
    narrow = quick if narrow is None else narrow
    from asc.data.standin import MIN_SCALE

    scale = scale if scale is not None else (MIN_SCALE + 1e-4 if quick else 1.0)
    if not quick:  # a smoke run's timings are not read: it skips the warm-up
        with tempfile.TemporaryDirectory(
            prefix="asc-grid-warmup-"
        ) as ws:  # imports, kernel caches: not timed
            cfg = job_config(
                "paper_fig3",
                scale=MIN_SCALE + 1e-4,
                quick=True,
                device=device,
                fuse=True,
                ws=Path(ws),
                narrow=False,  # warms the kernels of the network that is timed next
            )
            cfg["runs"] = [{"criteria": ["cosine"], "layer_sets": None, "fractions": [1.0], "repeats": 1}]
            run_grid(cfg, quick=True)
    results = {}
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix="asc-grid-") as ws:
            cfg = job_config(
                experiment,
                scale=scale,
                quick=quick,
                device=device,
                fuse=mode == "fused",
                ws=Path(ws),
                narrow=narrow,
            )
            results[mode] = run_grid(cfg, quick)
    first = results[modes[0]]
    schedule = ("quick: 1 epoch, 1 repeat" if quick else "the experiment's epochs and repeats") + (
        ", widths [4, 4, 8]" if narrow else ""
    )
    print(
        f"experiment={experiment} on dataset=standin scale {scale:g} ({schedule}), device {device}; "
        f"runs: {first['runs']}"
    )
    if first["dropped"]:
        print(f"fractions dropped (too few clips per scene and device at this scale): {first['dropped']}")
    rows = []
    for mode, r in results.items():
        total = sum(r["seconds"].values())
        ft = r["examples"].get("finetune", 0.0) / max(r["seconds"]["finetune"], 1e-9)
        rows.append([mode, *(f"{r['seconds'][n]:.1f}" for n, _ in STAGE_GROUPS), f"{total:.1f}", f"{ft:.0f}"])
    print(table(["mode", *(f"{n} s" for n, _ in STAGE_GROUPS), "total s", "fine-tune examples/s"], rows))
    if len(modes) > 1:
        t = {m: sum(r["seconds"].values()) for m, r in results.items()}
        print(f"grid wall time one-by-one / fused: {t['one-by-one'] / t['fused']:.2f}×")
    full = full_grid_examples(experiment)
    fused = results[modes[0]]
    rate = {
        s: fused["examples"].get(s, 0.0) / max(fused["seconds"][s], 1e-9) for s in ("baseline", "finetune")
    }
    hours = {s: full[s] / max(rate[s], 1e-9) / 3600 for s in ("baseline", "finetune")}
    print(
        f"projection of the full grid (scale 1, {full['runs']} fine-tuning runs, {full['finetune'] / 1e6:.1f} M "
        f"fine-tuning + {full['baseline'] / 1e6:.1f} M baseline examples) at this run's {modes[0]} rates: "
        f"baseline {hours['baseline'] * 60:.1f} min + fine-tuning {hours['finetune'] * 60:.1f} min on {device} "
        f"(linear in examples; the rate at scale 1 differs, run without --quick to measure it)"
    )
