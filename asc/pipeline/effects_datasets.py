"""Dataset values that would do nothing (asc/pipeline/config_effects.py): a key that only other datasets' configs
have, read by nothing for this one, refused at planning in one line naming the key and the datasets that read it.

Keys are compared one level deep too (``validation.amount``): FSD50K's hold-out is its own ``val`` split
(``validation.method=official``, asc/data/fsd50k.py), so ``+dataset.validation.amount=0.2`` or ``.seed=1`` would enter
the index key and draw nothing, while every other set's ``validation.method`` (grouped, random, TAU's official
dcase_util draw) reads both. Torch-free.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from asc.core.config_files import CONF_DIR, conf_file
from asc.core.errors import ConfigError

# read for any dataset (asc/report/rows.py, asc/data/kinds.py), whichever files have them
GENERIC_DATASET_KEYS = ("label", "name", "kind")


def check(d: Mapping[str, Any]) -> None:
    """A key only other datasets' configs have (``+dataset.content_hash=true`` on the demo,
    ``+dataset.validation.seed=1`` on FSD50K): ConfigError naming it and the datasets that read it."""
    owners = _dataset_keys()
    if d["name"] not in owners:
        return  # a dataset config of the user's own: its keys are its own
    for key in sorted(_keys(d) - owners[d["name"]] - set(GENERIC_DATASET_KEYS)):
        others = sorted(name for name, keys in owners.items() if key in keys)
        if others:
            raise ConfigError(
                f"dataset.{key}={_value(d, key)!r} has no effect: only dataset={', '.join(others)} read it, not "
                f"dataset={d['name']}{_why(d, key)}; drop it"
            )


def _why(d: Mapping[str, Any], key: str) -> str:
    """What makes a nested key moot here: the hold-out's method that draws nothing."""
    if key.startswith("validation.") and isinstance(d.get("validation"), Mapping):
        return (
            f" (dataset.validation.method={d['validation'].get('method')} takes the set's own split, no draw)"
        )
    return ""


def _keys(conf: Mapping[str, Any]) -> set[str]:
    """The keys of a dataset config, and ``key.sub`` for each key of a mapping value (one level deep)."""
    out = set()
    for key, value in conf.items():
        out.add(str(key))
        if isinstance(value, Mapping):
            out.update(f"{key}.{sub}" for sub in value)
    return out


def _value(d: Mapping[str, Any], key: str) -> Any:
    head, _, sub = key.partition(".")
    return d[head][sub] if sub else d[head]


@functools.cache
def _dataset_keys() -> dict[str, frozenset[str]]:
    """Dataset name → the keys its files of conf/dataset/ have (:func:`_keys`; a file's ``defaults`` of the group
    included)."""

    def load(stem: str) -> tuple[dict[str, Any], set[str]]:
        conf = conf_file(CONF_DIR / "dataset" / f"{stem}.yaml")
        merged: dict[str, Any] = {}
        keys: set[str] = set()
        for base in conf.pop("defaults", None) or []:
            if isinstance(base, str) and base != "_self_":
                more, their = load(base)
                merged.update(more)
                keys |= their
        return {**merged, **conf}, keys | _keys(conf)

    owners: dict[str, set[str]] = {}
    for path in (CONF_DIR / "dataset").glob("*.yaml"):
        conf, keys = load(path.stem)
        owners.setdefault(str(conf.get("name")), set()).update(keys)
    return {name: frozenset(keys) for name, keys in owners.items()}
