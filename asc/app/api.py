"""asc from Python (a notebook, a script): run a job, read its results table, load the network of a row.

    import asc
    folder = asc.run(["train.epochs=2", "finetune.epochs=1", "paths.results=/tmp/res"])
    table = asc.read_results(folder)                     # pandas.DataFrame, one row per evaluated model
    model = asc.load_model(table.iloc[-1])               # torch.nn.Module, in eval mode, on the CPU

:func:`run` is the command line's job (composition, validation, every planning check, the stages, the report) on
the same configs, without Hydra's run folder or log file: overrides are written as on the command line (one job;
loop for several). Errors are the CLI's (asc.core.errors.ConfigError / InputError, DiskSpaceError) raised, not printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["compose", "load_model", "read_results", "run"]


def compose(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """conf/config.yaml composed with Hydra ``overrides`` (command-line syntax) and resolved, as the CLI sees it;
    a ``train=`` or ``finetune=`` recipe that does not exist raises ConfigError (as on the command line)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from asc.app.cli import check_recipe_choices
    from asc.core.config_cache import cache_config_files
    from asc.core.config_files import CONF_DIR

    cache_config_files()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    check_recipe_choices(OmegaConf.to_container(cfg.hydra.runtime.choices))
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg, resolve=True)


def run(overrides: Sequence[str] = ()) -> Path:
    """Run one job of ``asc <overrides>`` in this process; returns its results folder (``paths.results``,
    absolute), where :func:`read_results` finds its table. ``dry_run=true`` prints the plan and builds nothing."""
    from asc.app.cli import run as run_job

    cfg = compose(overrides)
    run_job(cfg)
    return Path(cfg["paths"]["results"]).absolute()


def read_results(path: str | Path) -> Any:
    """The results table (a results folder or its ``results.csv``) as a pandas DataFrame with the documented
    dtypes (asc.report.results.normalize): one row per evaluated model. Raises FileNotFoundError without a table and
    asc.report.results_check.ResultsTableError (naming file and line) for one that cannot be read."""
    from asc.report.results import load

    path = Path(path)
    return load(path / "results.csv" if path.is_dir() else path)


def load_model(row: Mapping[str, Any] | Any) -> Any:
    """The network of one results row (a row of :func:`read_results`, e.g. ``table.iloc[0]``, or a dict with its
    ``checkpoint`` column): a torch ``nn.Module`` on the CPU in eval mode, input (batch, 1, mels, frames) log-mel
    features, output (batch, classes) logits. Raises FileNotFoundError when the checkpoint is gone."""
    from asc.nets.model_file import (
        read_model_file,  # DCASE-family and zoo/custom (asc-net-1) checkpoints alike
    )

    path = Path(str(row["checkpoint"]))
    if not path.is_file():
        raise FileNotFoundError(
            f"model checkpoint {path} does not exist; run the stage that produces it first"
        )
    model, _ = read_model_file(path)
    return model.eval()
