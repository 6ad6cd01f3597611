"""The plan: every artifact a job needs, with its key, from the composed config alone — no I/O, no training.

``make_plan(cfg)`` walks the chain (asc/chain.py) and returns one :class:`Step` per artifact, in build order.
A key hashes the config subtree its stage declares plus its upstream keys (asc/store.py ``config_key``), so what
``asc dry_run=true`` prints is exactly what the executor (asc/execute.py) builds or reuses. Keys follow the data:

- dataset: its content — the demo generator's settings; for TAU the archive list with sizes and MD5s, never the
  folder it lives in (moving ``data/`` keeps every key);
- index: the validation hold-out (method, amount, its own seed);
- features: the front end only (stored per fold, so the validation split never re-extracts them);
- train: model + recipe + the training seed (or the digest of ``train.init_from``);
- prune: one criterion config; finetune: the recipe, fraction, repeat and the seeds they imply.
The ``runtime`` node (speed, I/O) is never part of a key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asc.store import config_key

RECIPE_KEYS = ("epochs", "batch_size", "lr", "adam_eps", "select_after", "select_on", "precision")


@dataclass(frozen=True)
class Step:
    """One artifact: ``stage/key``; ``config`` is what the key hashes (besides the upstream keys)."""

    stage: str
    key: str
    label: str
    config: Mapping[str, Any]
    upstream: tuple[str, ...] = ()  # ids of the steps whose artifacts it reads, in stage order
    args: Mapping[str, Any] = field(default_factory=dict)  # what its build needs beyond the config

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.key}"


def _step(stage: str, label: str, config: Any, upstream: tuple[Step, ...] = (), **args: Any) -> Step:
    key = config_key(stage, config, [u.key for u in upstream])
    return Step(stage, key, label, config, tuple(u.id for u in upstream), args)


def dataset_identity(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """What the dataset *is*: a generated set's generator settings, or TAU's archives with their sizes and MD5s."""
    from asc.stages.dataset import GENERATED

    if dataset["name"] in GENERATED:
        return {k: v for k, v in dataset.items() if k != "validation"}
    files = dataset.get("files") or {}
    archives = list(dataset.get("archives") or [])
    return {
        "name": dataset["name"],
        "archives": {a: files.get(a) for a in archives},
        "prefix": files.get("prefix"),
        "suffix": files.get("suffix"),
    }


def recipe(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: stage_cfg[k] for k in RECIPE_KEYS}


def _layers(layers: Any) -> list[str]:
    return [layers] if isinstance(layers, str) else [str(x) for x in layers]


def prune_runs(cfg: Mapping[str, Any]) -> list[tuple[dict[str, Any], list[float], int]]:
    """(prune config, fractions, repeats) per block entry: the `runs` blocks, or with `prune=<name>` selected
    that one config in place of every block's criteria and layer sets."""
    selected = cfg.get("prune")
    out = []
    for i, block in enumerate(cfg["runs"]):
        if selected:
            configs = [dict(selected, layers=_layers(selected["layers"]))]
        else:
            configs = []
            for name in block.get("criteria") or []:
                if name not in cfg["criteria"]:
                    raise ValueError(
                        f"runs[{i}].criteria names {name!r}, which is not a criterion config; "
                        f"valid: {', '.join(sorted(cfg['criteria']))}"
                    )
                base = dict(cfg["criteria"][name])
                for layers in block.get("layer_sets") or [base["layers"]]:
                    configs.append(dict(base, layers=_layers(layers)))
        fractions = [float(f) for f in block.get("fractions") or []]
        out += [(c, fractions, int(block.get("repeats") or 0)) for c in configs]
    return out


def _prune_step(label: str, pcfg: Mapping[str, Any], baseline: Step) -> Step:
    """A criterion reading a ``kept_file`` (prune=given) is keyed on the file's content, not its path: editing
    the file re-prunes, moving it does not. The path travels in the step's args."""
    if not pcfg.get("kept_file"):
        return _step("prune", label, pcfg, (baseline,))
    source = Path(pcfg["kept_file"])
    if not source.is_file():
        raise FileNotFoundError(
            f"prune.kept_file={source} does not exist; give a JSON/YAML {{layer: [indices]}} file"
        )
    from asc.fingerprint import file_digest

    keyed = {**pcfg, "kept_file": {"sha256": file_digest(source)}}
    return _step("prune", label, keyed, (baseline,), kept_file=str(source))


def build_config(step: Step) -> dict[str, Any]:
    """The config a step's build reads: the keyed config, with the ``kept_file`` path its key replaced put back."""
    return (
        {**step.config, "kept_file": step.args["kept_file"]}
        if "kept_file" in step.args
        else dict(step.config)
    )


def finetune_seeds(finetune: Mapping[str, Any], repeat: int) -> tuple[int, int]:
    """(training seed, subset seed) of repeat ``repeat``: the authors drew one subset for every repeat."""
    seed = int(finetune["seed"]) + repeat
    return seed, int(finetune["seed"]) if finetune["subset"] == "shared" else seed


def make_plan(cfg: Mapping[str, Any]) -> list[Step]:
    """Every artifact of the job, in build order, deduplicated (two blocks naming one run share it)."""
    d = cfg["dataset"]
    dataset = _step("dataset", d["name"], dataset_identity(d))
    index = _step(
        "index", f"{d['name']} {d['validation']['method']} split", {"validation": d["validation"]}, (dataset,)
    )
    features = _step("features", cfg["features"]["name"], cfg["features"], (dataset,))
    t = cfg["train"]
    trains = []
    if t.get("init_from"):
        from asc.fingerprint import (
            file_digest,  # reads the file: a model is identified by its bytes, not its path
        )

        source = Path(t["init_from"])
        trains.append(
            _step(
                "train",
                f"baseline from {source.name}",
                {"model": cfg["model"], "init_from_sha256": file_digest(source)},
                (features, index),
                init_from=str(source),
                seed=int(t["seeds"][0]),
            )
        )
    else:
        for seed in t["seeds"]:
            trains.append(
                _step(
                    "train",
                    f"baseline seed {seed}",
                    {"model": cfg["model"], "train": recipe(t), "seed": int(seed)},
                    (features, index),
                    seed=int(seed),
                )
            )
    baseline = trains[0]  # pruning starts from the first seed's baseline
    f = cfg["finetune"]
    ft_config = {**recipe(f), "train_on": f["train_on"]}
    steps = [dataset, index, features, *trains]
    for pcfg, fractions, repeats in prune_runs(cfg):
        label = f"{pcfg['name']} {'+'.join(pcfg['layers'])}"
        prune = _prune_step(label, pcfg, baseline)
        steps.append(prune)
        for fraction in fractions:
            for repeat in range(repeats):
                seed, subset_seed = finetune_seeds(f, repeat)
                config = {
                    **ft_config,
                    "fraction": fraction,
                    "repeat": repeat,
                    "seed": seed,
                    "subset_seed": subset_seed,
                }
                steps.append(
                    _step(
                        "finetune",
                        f"{label} {fraction:g} #{repeat}",
                        config,
                        (prune, features, index),
                        fraction=fraction,
                        repeat=repeat,
                        seed=seed,
                        subset_seed=subset_seed,
                    )
                )
    unique: dict[str, Step] = {}
    for s in steps:
        unique.setdefault(s.id, s)
    return list(unique.values())


def approx_examples_per_epoch(cfg: Mapping[str, Any]) -> Callable[[Step], int]:
    """Training examples per epoch of a train or finetune step, estimated before the index exists."""
    held = approx_train_examples(dict(cfg, finetune={**cfg["finetune"], "train_on": "train"}))
    pool = approx_train_examples(cfg)
    return lambda step: held if step.stage == "train" else math.floor(pool * step.args["fraction"] + 0.5)


def approx_train_examples(cfg: Mapping[str, Any]) -> int:
    """Clips of the training pool before the index exists: fold1_train minus the validation share."""
    d = cfg["dataset"]
    if d["name"] == "demo":
        from asc.data.demo import plan_clips  # pure: the demo's clip list follows from its config

        n = sum(1 for c in plan_clips(d) if c.split == "train")
    elif d["name"] == "standin":
        from asc.data.standin import expected_counts

        n = expected_counts(float(d["scale"]))["train"]
    else:
        n = int((d.get("expected_counts") or {}).get("train", 0))
    return (
        n if cfg["finetune"]["train_on"] == "fold1_train" else math.ceil(n * (1 - d["validation"]["amount"]))
    )
