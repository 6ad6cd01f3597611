"""Where the Hydra configs are: package data (asc/conf, a link to the repository's conf/ that a wheel or
`pip install .` copies into the package), read through importlib.resources, so an installed asc finds them
wherever it runs; and the config keys they write, the only keys asc reads (:func:`check_known_keys`)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from asc.core.errors import ConfigError

CONF_DIR = Path(str(files("asc") / "conf"))

GROUPS = (
    "dataset",
    "features",
    "model",
    "train",
    "finetune",
    "perdevice",
    "protocol",
    "tracking",
)  # conf/<group>/*.yaml


@functools.cache
def _yaml_loader() -> type:
    """libyaml's parser (C) with OmegaConf's resolvers, so a value reads as Hydra reads it (``1.0e-3`` a float,
    no timestamps). OmegaConf.load builds a DictConfig of every node and is ~15× slower: asc reads ~100 of its own
    files to plan a run, and every ``asc`` command paid a third of a second for it."""
    import yaml
    from omegaconf._utils import get_yaml_loader

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML built without libyaml: the Python parser
    return type("ConfLoader", (base,), {"yaml_implicit_resolvers": get_yaml_loader().yaml_implicit_resolvers})


@functools.cache
def _parsed(path: Path) -> Any:
    import yaml

    return yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader()) or {}


def conf_file(path: Path) -> dict[str, Any]:
    """One of asc's config files as plain data, unresolved (``${...}`` stays a string); a fresh copy per call, so
    a caller may change it. Each file is parsed once per process.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        yaml.YAMLError: the file is not YAML.
    """
    return copy.deepcopy(_parsed(Path(path)))


@functools.cache
def _known_keys() -> dict[str, frozenset[str]]:
    """The keys asc reads, per config node: those its own config files write (conf/config.yaml for the top level,
    runtime, runtime.latency, runtime.figures and paths; the union over a group's files for each group)."""

    def keys(conf: Any) -> set[str]:
        return {k for k in conf.keys() if k not in ("defaults", "hydra")}

    top = _parsed(CONF_DIR / "config.yaml")
    known = {"": keys(top) | set(GROUPS) | {"criteria", "prune"}}
    for node in ("runtime", "runtime.latency", "runtime.figures", "paths"):
        known[node] = keys(functools.reduce(lambda c, k: c[k], node.split("."), top))
    for group in GROUPS:
        known[group] = set().union(*(keys(_parsed(f)) for f in (CONF_DIR / group).glob("*.yaml")))
    return {node: frozenset(k) for node, k in known.items()}


def check_known_keys(cfg: Mapping[str, Any]) -> None:
    """A key no config file of asc has (``+train.epoch=3``, ``+features.nmels=64``) is read by nothing: it would
    change an artifact's key while the run did what the defaults say."""
    import difflib

    for node, known in _known_keys().items():
        value = cfg if not node else functools.reduce(lambda c, k: c.get(k) or {}, node.split("."), cfg)
        if not isinstance(
            value, Mapping
        ):  # runtime.figures=png: not a node at all, its owner's check names it
            continue
        for key in sorted(set(value) - known):
            name = f"{node}.{key}" if node else key
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"did you mean {node + '.' if node else ''}{near[0]}?"
                if near
                else f"{node or 'the config'} has: "
            )
            raise ConfigError(
                f"{name} is not a key asc reads (added with +?): {hint}"
                + ("" if near else ", ".join(sorted(known)))
            )
