"""The only Hydra entry point: compose the config, then bring ``stage`` (default: report) up to date."""

from __future__ import annotations

import logging
import os

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asc import CONF_DIR

log = logging.getLogger("asc")


def explicit_prune(overrides: list[str]) -> bool:
    """``asc -m prune=cosine,l1`` means "sweep these criteria": a prune override without a grid override wins
    over the grid that an experiment (the default demo one included) sets."""
    keys = [o.lstrip("+~").split("=", 1)[0] for o in overrides]
    return any(k == "prune" or k.startswith("prune.") for k in keys) and not any(
        k.startswith("grid") for k in keys
    )


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from asc.experiment import Experiment  # after Hydra has set up logging

    if os.environ.get("ASC_MALLOC_TUNED"):
        log.info("glibc malloc tuned for large tensors (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); "
                 "set ASC_MALLOC_TUNING=0 to disable")  # fmt: skip
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    plain = OmegaConf.to_container(cfg, resolve=True)
    overrides = HydraConfig.get().overrides.task
    if plain["grid"]["criteria"] and explicit_prune(overrides):
        log.info("prune config given on the command line without grid.*: running just that config, not the "
                 "experiment's grid %s", plain["grid"]["criteria"])  # fmt: skip
        plain["grid"] = {"criteria": [], "layer_sets": [], "extra": []}
    try:
        Experiment(plain).run(cfg.stage)
    except Exception:
        # Into this job's own log file (Hydra's run dir) before re-raising, so a failed sweep job says why.
        log.exception("stage %s failed", cfg.stage)
        raise


if __name__ == "__main__":
    main()
