"""Criterion values that would do nothing (asc/pipeline/config_effects.py): refused at planning, in one line naming
the key and what to set instead.

- **Shadowed**: ``prune=<name>`` replaces the criteria of every ``runs`` block, so a changed
  ``criteria.<name>.*`` is read by nothing (``prune=l1 criteria.l1.ratio=0.3`` pruned with prune's ratio); a
  criterion no ``runs`` block names; ``criteria.<name>.layers`` where every block naming it has ``layer_sets``.
- **Ignored in the criterion's mode** (asc/prune/*.py): ``match`` once every pruned layer has a ratio; ``ratio``
  once ``per_layer_ratio`` covers every pruned layer; centrality's ``edge_length`` unless
  ``measure=betweenness``; Nyström's ``seed`` with ``landmark_choice=first``; per-layer ``landmarks`` or
  given ``kept`` entries of a layer that is not pruned; ``dense_mapping`` when the last conv is not pruned (it
  maps the first dense layer's inputs to that conv's kept channels) or for ``random`` (re-initialised).

Only values that differ from what asc's own config file gives (under the job's ``protocol``) are refused: a file's
default that the mode ignores is the same for every job, so it tells no two jobs apart. Torch-free.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from asc.core.config_files import CONF_DIR, conf_file
from asc.core.errors import ConfigError


def check(cfg: Mapping[str, Any], prune_choice: str | None) -> None:
    """Raise ConfigError for the first criterion value the job would not read (module docstring);
    ``prune_choice``: the ``prune=<file>`` the command line chose, to name it (None: the criterion's name)."""
    refuse_shadowed(cfg, prune_choice)
    widths = cfg["model"].get(
        "widths"
    )  # the DCASE21 family's C1…Cn; other families map no dense rows by hand
    last_conv = f"C{len(widths)}" if isinstance(widths, list) and widths else None
    for key, entry, defaults in _in_use(cfg, prune_choice):
        _ignored_by_mode(key, entry, defaults, last_conv)


def _criterion_file(stem: str) -> dict[str, Any] | None:
    path = CONF_DIR / "prune" / f"{stem}.yaml"
    return conf_file(path) if path.is_file() else None


def file_default(stem: str, protocol: Mapping[str, Any]) -> dict[str, Any] | None:
    """conf/prune/<stem>.yaml resolved under ``protocol`` (its ``${protocol.*}`` values), or None without one; a
    fresh copy per call. Resolved once per file and protocol: one plan asks for each file a score of times, and
    each OmegaConf resolution costs milliseconds."""
    try:
        key = json.dumps(protocol, sort_keys=True)
    except TypeError:  # not plain data: resolved afresh
        return _resolve(stem, dict(protocol))
    return copy.deepcopy(_resolved(stem, key))


@functools.lru_cache(maxsize=256)
def _resolved(stem: str, protocol_json: str) -> dict[str, Any] | None:
    return _resolve(stem, json.loads(protocol_json))


def _resolve(stem: str, protocol: dict[str, Any]) -> dict[str, Any] | None:
    from omegaconf import OmegaConf

    conf = _criterion_file(stem)
    if conf is None:
        return None
    root = OmegaConf.create({"protocol": protocol, "entry": conf})
    return OmegaConf.to_container(root.entry, resolve=True)


def layers_of(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(x) for x in value or []]


def _added_options() -> dict[str, Any]:
    """Options every criterion takes that no conf/prune file holds (``+criteria.l1.schedule=3``), at the value
    that does nothing: the schedule's (asc/prune/schedule.py), ``depthwise``, ``budget``, ``round_to_block``,
    ``block_choice`` (always: asc/prune/block_choice.py)."""
    from asc.prune.block_choice import CHOICE_KEY
    from asc.prune.blocks import KEY as BLOCK_KEY
    from asc.prune.options import BUDGET_KEY, GRAPH_OPTIONS, SCHEDULE_DEFAULTS

    added = {**SCHEDULE_DEFAULTS, **dict.fromkeys(GRAPH_OPTIONS, False), BUDGET_KEY: None, BLOCK_KEY: None}
    return added | {CHOICE_KEY: "always"}


def _changed(entry: Mapping[str, Any], default: Mapping[str, Any]) -> list[str]:
    """The options of ``entry`` that differ from its file's ``default``, the added options (:func:`_added_options`,
    which no file holds) included where they are not at the value that does nothing."""
    added = _added_options()

    def inert(k: str) -> bool:
        return entry[k] == added[k] or (not entry[k] and not added[k])

    return [
        k
        for k in entry
        if (k in default and entry[k] != default[k]) or (k not in default and k in added and not inert(k))
    ]


def _plus(option: str, default: Mapping[str, Any]) -> str:
    """``+`` where ``option`` must be added on the command line (no criterion file holds it)."""
    return "" if option in default else "+"


def _prune_defaults(cfg: Mapping[str, Any], choice: str | None) -> list[dict[str, Any]]:
    """The defaults of the file(s) ``prune`` may come from: the chosen one, else every file of its criterion
    (``given`` is given.yaml or authors_kept.yaml)."""
    p = cfg["prune"]
    stems = [choice] if choice else [f.stem for f in sorted((CONF_DIR / "prune").glob("*.yaml"))]
    found = [file_default(stem, cfg["protocol"]) for stem in stems]
    return [d for d in found if d is not None and d.get("name") == p["name"]] or [{}]


def refuse_shadowed(cfg: Mapping[str, Any], prune_choice: str | None) -> None:
    selected, runs = cfg.get("prune"), cfg["runs"]
    for name, entry in cfg["criteria"].items():
        default = file_default(name, cfg["protocol"])
        changed = _changed(entry, default) if default else []
        if not changed:
            continue
        option, value = changed[0], entry[changed[0]]
        said = f"criteria.{name}.{option}={value!r} has no effect: "
        if selected:
            chosen = prune_choice or selected["name"]
            raise ConfigError(
                said + f"prune={chosen} replaces the criteria of every runs block; set "
                f"{_plus(option, default)}prune.{option}={value!r} instead"
            )
        naming = [i for i, b in enumerate(runs) if name in (b.get("criteria") or [])]
        if not naming:
            have = sorted({c for b in runs for c in b.get("criteria") or []})
            raise ConfigError(
                said
                + f"no runs block names {name} (runs criteria: {', '.join(have) or 'none'}); add {name} to "
                f"runs[0].criteria, or select it: prune={name} {_plus(option, default)}prune.{option}={value!r}"
            )
        if option == "layers" and all(runs[i].get("layer_sets") for i in naming):
            raise ConfigError(
                said + f"runs[{naming[0]}].layer_sets gives the layers of every block that names {name}; "
                f"set runs[{naming[0]}].layer_sets=null to prune {name}'s own layers, or list them there"
            )


def _in_use(cfg: Mapping[str, Any], prune_choice: str | None) -> Iterator[tuple[str, dict, list[dict]]]:
    """(key, the entry with the layers it prunes, its file's defaults) of every criterion config the job runs."""
    if cfg.get("prune"):
        p = cfg["prune"]
        yield "prune", dict(p, layers=layers_of(p["layers"])), _prune_defaults(cfg, prune_choice)
        return
    for block in cfg["runs"]:
        for name in block.get("criteria") or []:
            entry = cfg["criteria"][name]
            # a criterion file composed under another key (criteria.centrality25: centrality) has its file's defaults
            default = file_default(entry.get("name", name), cfg["protocol"]) or {}
            for layers in block.get("layer_sets") or [entry["layers"]]:
                yield f"criteria.{name}", dict(entry, layers=layers_of(layers)), [default]


def _ignored_by_mode(
    key: str, p: Mapping[str, Any], defaults: Sequence[Mapping], last_conv: str | None
) -> None:
    """Refuse the first changed option (one no file of the criterion has) that the criterion ignores with its
    other options as they are."""
    layers, per_layer = p["layers"], p.get("per_layer_ratio") or {}

    def given(option: str) -> bool:
        return p.get(option) is not None and all(p[option] != d.get(option) for d in defaults)

    def refuse(option: str, why: str, instead: str) -> None:
        raise ConfigError(f"{key}.{option}={p[option]!r} has no effect: {why}; {instead}")

    every_layer_has_ratio = p.get("ratio") is not None or set(layers) <= set(per_layer)
    if given("match") and every_layer_has_ratio:
        how = f"{key}.ratio={p['ratio']}" if p.get("ratio") is not None else f"{key}.per_layer_ratio"
        refuse(
            "match",
            f"{how} sets how many filters each pruned layer keeps",
            f"drop it, or set {key}.ratio=null",
        )
    if given("ratio") and set(layers) <= set(per_layer):
        refuse(
            "ratio",
            f"{key}.per_layer_ratio gives every pruned layer ({'+'.join(layers)}) its own ratio",
            f"drop it, or prune a layer that {key}.per_layer_ratio leaves out",
        )
    if given("edge_length") and p.get("measure") != "betweenness":
        refuse(
            "edge_length",
            f"{key}.measure={p.get('measure')} has no edge lengths (only betweenness does)",
            f"set {key}.measure=betweenness, or drop it",
        )
    if p.get("name") == "nystrom" and given("seed") and p.get("landmark_choice", "first") == "first":
        refuse(
            "seed",
            f"{key}.landmark_choice=first takes the first filters as landmarks (nothing is drawn)",
            f"set {key}.landmark_choice=random or kmeans++, or drop it",
        )
    last_whole = last_conv is not None and last_conv not in layers
    if given("dense_mapping") and (p.get("name") == "random" or last_whole):
        why = (
            "random re-initialises the pruned network, so no weight is mapped"
            if p.get("name") == "random"
            else f"it maps the first dense layer's inputs once {last_conv} is pruned, and {key}.layers="
            f"{'+'.join(layers)} leaves {last_conv} whole"
        )
        refuse("dense_mapping", why, "drop it")
    for option in ("landmarks", "kept"):
        _unpruned_entries(key, option, p, defaults, layers)


def _unpruned_entries(key: str, option: str, p: Mapping, defaults: Sequence[Mapping], layers: Sequence[str]):
    value = p.get(option)
    if not isinstance(value, Mapping):
        return
    for layer, entry in value.items():
        bases = [d.get(option) for d in defaults]
        before = [b.get(layer) if isinstance(b, Mapping) else b for b in bases]
        if layer not in layers and entry is not None and entry not in before:
            raise ConfigError(
                f"{key}.{option}.{layer}={entry!r} has no effect: {layer} is not pruned ({key}.layers="
                f"{'+'.join(layers)}); drop it, or add {layer} to {key}.layers"
            )
