"""The stage graph: dataset → index → features → train → prune → finetune → report.

Each stage is a method that returns its artifact, building it only when the store lacks it. A stage's key
hashes the config it depends on (minus settings that only change speed) and its upstream keys, so sweeping a
downstream value reuses everything above it. Only :mod:`asc.cli` touches Hydra; this module takes a plain dict.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from asc import features as feats
from asc import results
from asc.atomic import atomic_write_json
from asc.complexity import complexity
from asc.data import tau
from asc.model import build_model, load_model, save_model
from asc.store import Artifact, Store
from asc.train import fit, metrics, predict, resolve_device

log = logging.getLogger(__name__)

STAGES = ("dataset", "index", "features", "train", "prune", "finetune", "report")
# Settings that change how fast a stage runs, never what it produces: left out of artifact keys.
SPEED_ONLY = {"workers", "eval_batch_size", "channels_last", "download", "retries", "delete_archives"}
FEATURE_SPEED_ONLY = SPEED_ONLY | {"batch_size"}


def _without(cfg: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in keys}


class Pipeline:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.data_store = Store(cfg["paths"]["data"])
        self.store = Store(cfg["paths"]["store"])
        self.results_path = Path(cfg["paths"]["results"]) / "results.csv"
        self.device = resolve_device(cfg.get("device", "auto"))
        self.progress = cfg.get("progress")

    # ------------------------------------------------------------------ data
    @cached_property
    def dataset(self) -> tuple[Path, dict[str, Any]]:
        """(dataset root, the dataset config that identifies its content)."""
        d = self.cfg["dataset"]
        if d["name"] == "demo":
            from asc.data import demo

            identity = _without(d, SPEED_ONLY)
            art = self.data_store.artifact("demo", identity)
            self.data_store.build(
                art, lambda work: demo.generate(d, work, self.progress), config=d, describe="demo"
            )
            return art.path, identity
        from asc.data.prepare import prepare_tau

        root = prepare_tau(d, progress=self.progress)
        return root, {
            "name": d["name"],
            "root": str(Path(root).resolve()),
            "archives": list(d.get("archives", [])),
        }

    @cached_property
    def index(self) -> Artifact:
        root, identity = self.dataset
        d = self.cfg["dataset"]
        key_cfg = {"dataset": identity, "split_seed": self.cfg["seed"]}
        art = self.store.artifact("index", key_cfg)

        def build(work: Path) -> dict[str, Any]:
            table = tau.build_index(root, d, seed=self.cfg["seed"])
            tau.spot_check(root, table, d["sample_rate"], d["clip_seconds"])
            tau.save_index(table, work)
            return {"root": str(root), "clips": table["split"].value_counts().to_dict()}

        return self.store.build(art, build, config=key_cfg, describe=d["name"])

    @cached_property
    def features(self) -> Artifact:
        f = self.cfg["features"]
        key_cfg = _without(f, FEATURE_SPEED_ONLY)
        art = self.data_store.artifact("features", key_cfg, [self.index])
        root = Path(self.index.manifest()["root"])

        def build(work: Path) -> dict[str, Any]:
            table = tau.load_index(self.index.path)
            return feats.build_features(root, table, f, work, clip_seconds=self.cfg["dataset"]["clip_seconds"],
                                        device=self.device, progress=self.progress)  # fmt: skip

        return self.data_store.build(art, build, config=key_cfg, upstream=[self.index], describe=f["name"])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
        """Normalised features, integer labels and index rows of one split (cached)."""
        cache = self.__dict__.setdefault("_splits", {})
        if name not in cache:
            x, rows = feats.load_split(self.features.path, name)
            y = torch.tensor([tau.SCENES.index(s) for s in rows["scene"]], dtype=torch.long)
            cache[name] = (torch.from_numpy(x), y, rows)
        return cache[name]

    def evaluate(self, model: torch.nn.Module) -> dict[str, Any]:
        x, y, rows = self.split("evaluate")
        probs = predict(model, x, int(self.cfg["train"].get("eval_batch_size", 64)), self.device)
        return metrics(probs, y.numpy(), rows["device"].tolist(), tau.SCENES)

    def selection_split(self, select_on: str) -> tuple[torch.Tensor, torch.Tensor]:
        if select_on not in ("val", "test"):
            raise ValueError(f"select_on={select_on!r}; valid values: val, test")
        x, y, _ = self.split("val" if select_on == "val" else "evaluate")
        return x, y

    # ------------------------------------------------------------------ training
    @cached_property
    def baseline(self) -> Artifact:
        t, m = self.cfg["train"], self.cfg["model"]
        key_cfg = {"model": m, "train": _without(t, SPEED_ONLY), "seed": self.cfg["seed"]}
        art = self.store.artifact("train", key_cfg, [self.features])

        def build(work: Path) -> dict[str, Any]:
            torch.manual_seed(self.cfg["seed"])  # the initial weights too: a rerun in a new process is identical
            model = build_model(_without(m, {"name"}))
            x, y, _ = self.split("train")
            history = fit(model, (x, y), self.selection_split(t["select_on"]), t, work, seed=self.cfg["seed"],
                          device=self.device, progress=self.progress)  # fmt: skip
            scores = self.conclude(model, work, history)
            row = self.row("baseline", work, scores, model, criterion="none", layers="", seed=self.cfg["seed"],
                           train_time_s=history["train_seconds"], epochs=history["epochs"], select_on=t["select_on"])  # fmt: skip
            atomic_write_json(work / "row.json", row)
            return {"accuracy": scores["accuracy"], "best_epoch": history["best_epoch"]}

        self.store.build(art, build, config=key_cfg, upstream=[self.features], describe="baseline")
        self.record(art)
        return art

    def conclude(self, model: torch.nn.Module, work: Path, history: dict[str, Any], **extra: Any) -> dict:
        """End of a training run in ``work``: evaluate, save the model (with its config) and metrics, drop the
        resume checkpoint (not needed once the artifact is complete). Returns the evaluation scores."""
        scores = self.evaluate(model)
        save_model(model.cpu(), work / "model.pt", config=self.cfg)
        atomic_write_json(work / "metrics.json", {**scores, **history, **extra})
        (work / "last.pt").unlink()
        return scores

    @cached_property
    def full_complexity(self) -> dict[str, int]:
        model, _ = load_model(self.baseline.path / "model.pt")
        return complexity(model)

    def row(
        self, stage: str, work: Path, scores: dict[str, Any], model: torch.nn.Module, **fields: Any
    ) -> dict:
        """One row of the results table (the checkpoint path is where the artifact will live once complete)."""
        c = complexity(model)
        full = self.full_complexity if stage != "baseline" else c
        final = work.with_name(work.name.removesuffix(".partial"))
        row = {
            "run_id": f"{stage}/{final.name}", "stage": stage, "dataset": self.cfg["dataset"]["name"],
            "fraction": float("nan"), "repeat": 0, "finetuned": stage == "finetune",
            "accuracy": scores["accuracy"], "class_avg_accuracy": scores["class_avg_accuracy"],
            "log_loss": scores["log_loss"], **c, "macs_paper": c["macs"],
            "checkpoint": str(final / "model.pt"),
            **{f"acc_{d}": v["accuracy"] for d, v in scores["per_device"].items()},
        }  # fmt: skip
        row.update(fields)
        row["params_reduction_pct"] = 100 * (1 - row["params_keras"] / full["params_keras"])
        row["macs_reduction_pct"] = 100 * (1 - row["macs"] / full["macs"])
        row["macs_paper_reduction_pct"] = 100 * (1 - row["macs_paper"] / full["macs"])
        return row

    def record(self, art: Artifact) -> None:
        """Put an artifact's row into the results table (idempotent: rows are keyed by run_id)."""
        results.append(self.results_path, [json.loads((art.path / "row.json").read_text())])
