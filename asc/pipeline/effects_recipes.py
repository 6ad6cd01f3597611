"""Command-line overrides of what the job does not do, or that its other options make moot
(asc/pipeline/config_effects.py), refused at planning in one line naming the override and the fix:

- fine-tuning options when no ``runs`` block fine-tunes, per-device options when none trains per-device models;
- with a baseline given by file (``train.init_from``): the recipe that would have trained it, and for a
  DCASE21/22-family file (which carries its architecture) the ``model``; ``train.eval_precision``, since a
  given baseline is scored in fp32 (asc/pipeline/stages/train.py; the fine-tuned networks read
  ``finetune.eval_precision``);
- ``select_after`` where nothing is selected: ``train``/``finetune`` with ``select=last``, and ``perdevice``, whose
  device models always keep their last epoch (asc/pipeline/stages/perdevice.py) — it enters the recipe's key
  (asc/pipeline/stages/train.py ``RECIPE_KEYS``) and changes nothing.

The same kind, refused where its option is checked: QAT with ``finetune.eval_precision`` other than fp32
(asc/training/qat.py). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.config_files import CONF_DIR, conf_file
from asc.core.errors import ConfigError

# What a baseline given by file (train.init_from) makes moot: it is not trained (train.lr, adam_eps and precision
# stay: finetune's default recipe reads them), and a DCASE21/22-family file carries its architecture (its spec), so
# ``model`` is moot there only: a zoo network's file is a state dict that the ``model`` config's network loads.
MOOT_WITH_INIT_FROM = ("train.epochs", "train.batch_size", "train.select_after", "train.select_on")
MOOT_WITH_ARCHITECTURE_FILE = ("model",)


def check(cfg: Mapping[str, Any], overrides: Sequence[str]) -> None:
    """Raise ConfigError for the first override in ``overrides`` (Hydra's task overrides) that the job does not
    read (module docstring)."""
    tunes = any(b.get("fractions") or b.get("splits") for b in cfg["runs"])
    per_device = any(b.get("per_device") and (b.get("fractions") or b.get("splits")) for b in cfg["runs"])
    given = cfg["train"].get("init_from")
    moot = MOOT_WITH_INIT_FROM
    if given and _file_has_architecture(cfg["model"]):
        moot += MOOT_WITH_ARCHITECTURE_FILE
    for arg in overrides:
        key, _, value = arg.partition("=")
        key = key.lstrip("+~")
        if key.startswith("finetune.") and not tunes:
            raise ConfigError(
                f"{arg} has no effect: no runs block fine-tunes (their fractions and splits are empty); drop it, "
                "or give a block fractions, e.g. runs.0.fractions=[1.0]"
            )
        if key.startswith("perdevice.") and not per_device:
            raise ConfigError(
                f"{arg} has no effect: no runs block trains per-device models; drop it, or set per_device: true "
                "in a block that fine-tunes, e.g. runs.0.per_device=true"
            )
        if given and any(key == m or key.startswith(m + ".") for m in moot):
            raise ConfigError(
                f"{arg} has no effect: the baseline is train.init_from={given} (its architecture from the file, "
                "not trained); drop it, or drop train.init_from to train one"
            )
        if (
            given
            and key == "train.eval_precision"
            and _parsed(value) != file_value(cfg, "train", "eval_precision")
        ):
            raise ConfigError(
                f"{arg} has no effect: the baseline is train.init_from={given}, scored in fp32 as given; drop it, "
                f"or set finetune.eval_precision={value} to score the fine-tuned networks so"
            )
        _refuse_unselected(arg, key, cfg)


def _refuse_unselected(arg: str, key: str, cfg: Mapping[str, Any]) -> None:
    """``<stage>.select_after`` where the stage keeps its last epoch (nothing competes after it), at a value other
    than its config file's (the file's own value tells no two jobs apart)."""
    stage, _, option = key.partition(".")
    if option != "select_after" or stage not in ("train", "finetune", "perdevice"):
        return
    if _parsed(arg.partition("=")[2]) == file_value(cfg, stage, option):
        return
    if stage == "perdevice":
        raise ConfigError(
            f"{arg} has no effect: the per-device models always keep their last epoch (nothing is selected); "
            "drop it"
        )
    if (cfg.get(stage) or {}).get("select", "best") == "last":
        raise ConfigError(
            f"{arg} has no effect: {stage}.select=last keeps the last epoch (nothing is selected); drop it, or "
            f"set {stage}.select=best to select after that epoch"
        )


def file_value(cfg: Mapping[str, Any], group: str, option: str) -> Any:
    """What asc's own ``conf/<group>/<name>.yaml`` (the job's ``<group>.name``) gives ``option``, its
    interpolations resolved in ``cfg``; None where there is no such file or key."""
    from omegaconf import OmegaConf

    own = _group_file(group, str((cfg.get(group) or {}).get("name")))
    if option not in own:
        return None
    root = OmegaConf.create({**{k: v for k, v in cfg.items() if isinstance(k, str)}, "_own": own})
    return OmegaConf.select(root, f"_own.{option}")


def _group_file(group: str, stem: str) -> dict[str, Any]:
    """``conf/<group>/<stem>.yaml`` over the files of its group it names in ``defaults`` ({} without it)."""
    path = CONF_DIR / group / f"{stem}.yaml"
    conf = conf_file(path) if path.is_file() else {}
    merged: dict[str, Any] = {}
    for base in conf.pop("defaults", None) or []:
        if isinstance(base, str) and base != "_self_":
            merged.update(_group_file(group, base))
    return {**merged, **conf}


def _parsed(value: str) -> Any:
    """A command-line value as Hydra reads a plain one (``3`` an int, ``null`` None)."""
    import yaml

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _file_has_architecture(model: Mapping[str, Any]) -> bool:
    """Whether a ``train.init_from`` file names the network itself (the DCASE21/22 family's checkpoints and Keras
    files carry their spec), so the ``model`` config is not read; any other family's file is weights only."""
    from asc.nets import family_of

    try:
        return family_of(model).exact_surgery
    except ValueError:  # an unknown model name: validation names it
        return False
