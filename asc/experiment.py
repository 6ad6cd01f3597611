"""Experiments on top of the data/baseline pipeline: pruning grids, fine-tuning fractions, the report.

One job runs the grid ``grid.criteria × grid.layer_sets`` (or just the selected ``prune`` config); every prune
result is fine-tuned on ``finetune.fractions`` × ``finetune.repeats``. Multiruns (``asc -m prune=a,b``) give each
job its own grid and share every upstream artifact through the store.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from asc import CONF_DIR, report, results
from asc.atomic import atomic_write_json
from asc.complexity import paper_macs
from asc.finetune import finetune
from asc.model import load_model, save_model
from asc.pipeline import SPEED_ONLY, STAGES, Pipeline, _without
from asc.prune import prune_model
from asc.store import Artifact

log = logging.getLogger(__name__)


def prune_config(name: str, selected: dict[str, Any]) -> dict[str, Any]:
    """The config of criterion ``name``: the selected ``prune`` group if it is that one (so command-line
    overrides apply), else conf/prune/<name>.yaml."""
    if selected.get("name") == name:
        return dict(selected)
    path = CONF_DIR / "prune" / f"{name}.yaml"
    if not path.is_file():
        valid = sorted(p.stem for p in (CONF_DIR / "prune").glob("*.yaml"))
        raise ValueError(f"grid.criteria names {name!r}, which has no conf/prune/{name}.yaml; valid: {valid}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


class Experiment(Pipeline):
    def prune_jobs(self) -> list[dict[str, Any]]:
        """The prune configs of this job: grid.criteria × grid.layer_sets, plus every grid.extra block; with
        grid.criteria empty, just the selected ``prune`` config (what a multirun over prune=... sweeps)."""
        g = self.cfg.get("grid") or {}
        selected = self.cfg["prune"]
        if not g.get("criteria"):
            return [prune_config(selected["name"], selected)]
        jobs = []
        for block in [g, *(g.get("extra") or [])]:
            for name in block.get("criteria") or [selected["name"]]:
                base = prune_config(name, selected)
                for layers in block.get("layer_sets") or [base["layers"]]:
                    job = {**base, "layers": [layers] if isinstance(layers, str) else list(layers)}
                    if job not in jobs:
                        jobs.append(job)
        return jobs

    def prune(self, pcfg: dict[str, Any]) -> Artifact:
        art = self.store.artifact("prune", pcfg, [self.baseline])
        label = f"{pcfg['name']} {'+'.join(pcfg['layers'])}"

        def build(work: Path) -> dict[str, Any]:
            full, _ = load_model(self.baseline.path / "model.pt")
            model, info = prune_model(full, pcfg)
            scores = self.evaluate(model)
            model.cpu()  # back from the GPU, if evaluation ran there: saving and MAC counting happen on the CPU
            save_model(model, work / "model.pt", prune=pcfg, kept=info["kept"])
            atomic_write_json(work / "info.json", info)
            atomic_write_json(work / "metrics.json", scores)
            kept = " ".join(f"{k}:{len(v)}/{len(info['l1_norms'][k])}" for k, v in info["kept"].items())
            row = self.row("prune", work, scores, model, criterion=pcfg["name"], layers="+".join(info["layers"]),
                           seed=int(pcfg.get("seed", 0)), kept=kept, macs_paper=paper_macs(full, info["kept"]),
                           closest_distance=json.dumps(info["closest_distance"]),
                           l1_norms=json.dumps(info["l1_norms"]), kept_indices=json.dumps(info["kept"]),
                           train_time_s=0.0, epochs=0)  # fmt: skip
            atomic_write_json(work / "row.json", row)
            log.info("pruned %s: kept %s, accuracy before fine-tuning %.4f", label, kept, scores["accuracy"])
            return {"kept": info["kept"], "accuracy": scores["accuracy"]}

        self.store.build(art, build, config=pcfg, upstream=[self.baseline], describe=label)
        self.record(art)
        return art

    def fractions_for(self, criterion: str, layers: str) -> list[float]:
        """All fractions for the criteria and layer sets of the fraction curve, only the largest for the rest."""
        f = self.cfg["finetune"]
        fractions = [float(x) for x in f["fractions"]]
        criteria, layer_sets = f.get("fraction_criteria"), f.get("fraction_layer_sets")
        on_curve = (criteria is None or criterion in criteria) and (
            layer_sets is None or layers in ["+".join(ls) for ls in layer_sets]
        )
        return fractions if on_curve or not fractions else [max(fractions)]

    def finetune(self, prune_art: Artifact) -> list[Artifact]:
        f = self.cfg["finetune"]
        key_base = _without(
            f, SPEED_ONLY | {"fractions", "fraction_criteria", "fraction_layer_sets", "repeats", "name"}
        )
        prune_row = json.loads((prune_art.path / "row.json").read_text())
        arts = []
        for fraction in self.fractions_for(prune_row["criterion"], prune_row["layers"]):
            for repeat in range(int(f["repeats"])):
                key_cfg = {**key_base, "fraction": fraction, "repeat": repeat}
                art = self.store.artifact("finetune", key_cfg, [prune_art, self.features])
                label = f"{prune_row['criterion']} {prune_row['layers']} {fraction:g} #{repeat}"

                def build(work: Path, fraction: float = fraction, repeat: int = repeat) -> dict[str, Any]:
                    row = finetune(self, prune_art.path / "model.pt", prune_row, fraction, repeat, work)
                    atomic_write_json(work / "row.json", row)
                    return {"accuracy": row["accuracy"]}

                self.store.build(
                    art, build, config=key_cfg, upstream=[prune_art, self.features], describe=label
                )
                self.record(art)
                arts.append(art)
        return arts

    def report(self) -> dict[str, list[Path]]:
        out = Path(self.cfg["paths"]["results"])
        return report.write_report(self.results_path, out)

    def run(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage={stage!r}; valid stages: {', '.join(STAGES)}")
        upto = STAGES.index(stage)
        if self.cfg.get("report_only"):  # rewrite the report from the results table; check no stage at all
            if stage != "report":
                raise ValueError(f"report_only=true goes with stage=report, not stage={stage}")
            upto = -1
        steps = [lambda: self.dataset, lambda: self.index, lambda: self.features, lambda: self.baseline]
        for step in steps[: upto + 1]:
            step()
        if upto >= STAGES.index("prune"):
            for pcfg in self.prune_jobs():
                art = self.prune(pcfg)
                if upto >= STAGES.index("finetune"):
                    self.finetune(art)
        if stage == "report":
            written = self.report()
            df = results.load(self.results_path)
            print("\n" + report.summary_markdown(results.for_dataset(df, self.cfg["dataset"]["name"])) + "\n")
            for name, paths in written.items():
                log.info("%-10s %s", name, " ".join(str(p) for p in paths))
