"""Values that would do nothing: refused at planning, in one line naming the key and what to set instead.

A value the user gives must change what the job does; one that is read by nothing would still enter an artifact
key (a needless rebuild, rows that do not pool) while the run does what the defaults say. Three forms:

- **Shadowed**: ``prune=<name>`` replaces the criteria of every ``runs`` block, so a changed
  ``criteria.<name>.*`` is read by nothing (``prune=l1 criteria.l1.ratio=0.3`` pruned with prune's ratio); a
  criterion no ``runs`` block names; ``criteria.<name>.layers`` where every block naming it has ``layer_sets``.
- **Ignored in the criterion's mode** (asc/prune/*.py): ``match`` once every pruned layer has a ratio; ``ratio``
  once ``per_layer_ratio`` covers every pruned layer; centrality's ``edge_length`` unless
  ``measure=betweenness``; Nyström's ``seed`` with ``landmark_choice=first``; per-layer ``landmarks`` or
  given ``kept`` entries of a layer that is not pruned; ``dense_mapping`` when the last conv is not pruned (it
  maps the first dense layer's inputs to that conv's kept channels) or for ``random`` (re-initialised).
- **Another config's key**: a key that only other dataset configs have (``dataset.content_hash`` on the demo).

Only values that differ from what asc's own config file gives (under the job's ``protocol``) are refused: a file's
default that the mode ignores is the same for every job, so it tells no two jobs apart. Torch-free.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from asc.core.config_files import CONF_DIR
from asc.core.errors import ConfigError

# read for any dataset (asc/report/rows.py, asc/data/kinds.py), whichever files have them
GENERIC_DATASET_KEYS = ("label", "name", "kind")


@functools.cache
def _criterion_file(stem: str) -> Any:
    from omegaconf import OmegaConf

    path = CONF_DIR / "prune" / f"{stem}.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def file_default(stem: str, protocol: Mapping[str, Any]) -> dict[str, Any] | None:
    """conf/prune/<stem>.yaml resolved under ``protocol`` (its ``${protocol.*}`` values), or None without one."""
    from omegaconf import OmegaConf

    conf = _criterion_file(stem)
    if conf is None:
        return None
    root = OmegaConf.create({"protocol": dict(protocol), "entry": conf})
    return OmegaConf.to_container(root.entry, resolve=True)


def _layers(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(x) for x in value or []]


def _added_options() -> dict[str, Any]:
    """Options every criterion takes that no conf/prune file holds (``+criteria.l1.schedule=3``), at the value
    that does nothing: the schedule's (asc/prune/schedule.py), ``depthwise``, ``budget``, ``round_to_block``."""
    from asc.prune.blocks import KEY as BLOCK_KEY
    from asc.prune.options import BUDGET_KEY, GRAPH_OPTIONS, SCHEDULE_DEFAULTS

    return {**SCHEDULE_DEFAULTS, **dict.fromkeys(GRAPH_OPTIONS, False), BUDGET_KEY: None, BLOCK_KEY: None}


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


def _refuse_shadowed(cfg: Mapping[str, Any], prune_choice: str | None) -> None:
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
        yield "prune", dict(p, layers=_layers(p["layers"])), _prune_defaults(cfg, prune_choice)
        return
    for block in cfg["runs"]:
        for name in block.get("criteria") or []:
            entry = cfg["criteria"][name]
            # a criterion file composed under another key (criteria.centrality25: centrality) has its file's defaults
            default = file_default(entry.get("name", name), cfg["protocol"]) or {}
            for layers in block.get("layer_sets") or [entry["layers"]]:
                yield f"criteria.{name}", dict(entry, layers=_layers(layers)), [default]


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


@functools.cache
def _dataset_keys() -> dict[str, frozenset[str]]:
    """Dataset name → the keys its files of conf/dataset/ have (a file's ``defaults`` of the group included)."""
    from omegaconf import OmegaConf

    def load(stem: str) -> dict[str, Any]:
        conf = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "dataset" / f"{stem}.yaml"))
        merged: dict[str, Any] = {}
        for base in conf.pop("defaults", None) or []:
            if isinstance(base, str) and base != "_self_":
                merged.update(load(base))
        return {**merged, **conf}

    owners: dict[str, set[str]] = {}
    for path in (CONF_DIR / "dataset").glob("*.yaml"):
        conf = load(path.stem)
        owners.setdefault(str(conf.get("name")), set()).update(conf)
    return {name: frozenset(keys) for name, keys in owners.items()}


def _refuse_other_datasets_keys(d: Mapping[str, Any]) -> None:
    """A key only other datasets' configs have (``+dataset.content_hash=true`` on the demo): read by nothing."""
    owners = _dataset_keys()
    if d["name"] not in owners:
        return  # a dataset config of the user's own: its keys are its own
    for key in sorted(set(d) - owners[d["name"]] - set(GENERIC_DATASET_KEYS)):
        others = sorted(name for name, keys in owners.items() if key in keys)
        if others:
            raise ConfigError(
                f"dataset.{key}={d[key]!r} has no effect: only dataset={', '.join(others)} read it, not "
                f"dataset={d['name']}; drop it"
            )


def without_ignored(p: Mapping[str, Any]) -> dict[str, Any]:
    """A criterion config as it keys its prune step: ``ratio`` dropped once ``per_layer_ratio`` covers every
    pruned layer, ``match`` once every pruned layer has a ratio (what the criterion reads is unchanged, so
    ``prune.ratio=0.3`` with ``match`` left on and with ``match=null`` are one artifact). No config of asc's sets
    either, so no pinned key changes (tests/test_keys.py)."""
    out, layers = dict(p), set(_layers(p["layers"]))
    if out.get("round_to_block", 0) is None:  # null: no rounding, as when absent (asc/prune/blocks.py)
        out.pop("round_to_block")
    if layers <= set(p.get("per_layer_ratio") or {}):
        out.pop("ratio", None)
    if out.get("ratio") is not None or layers <= set(p.get("per_layer_ratio") or {}):
        out.pop("match", None)
    return out


# What a baseline given by file (train.init_from) makes moot: it is not trained (train.lr, adam_eps and precision
# stay: finetune's default recipe reads them), and a DCASE21/22-family file carries its architecture (its spec), so
# ``model`` is moot there only: a zoo network's file is a state dict that the ``model`` config's network loads.
MOOT_WITH_INIT_FROM = ("train.epochs", "train.batch_size", "train.select_after", "train.select_on")
MOOT_WITH_ARCHITECTURE_FILE = ("model",)


def _refuse_moot_overrides(cfg: Mapping[str, Any], overrides: Sequence[str]) -> None:
    """Command-line overrides of what the job does not do: fine-tuning options when no runs block fine-tunes,
    the model and the training recipe of a baseline given by file."""
    tunes = any(b.get("fractions") or b.get("splits") for b in cfg["runs"])
    given = cfg["train"].get("init_from")
    moot = MOOT_WITH_INIT_FROM
    if given and _file_has_architecture(cfg["model"]):
        moot += MOOT_WITH_ARCHITECTURE_FILE
    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        if key.startswith("finetune.") and not tunes:
            raise ConfigError(
                f"{arg} has no effect: no runs block fine-tunes (their fractions and splits are empty); drop it, "
                "or give a block fractions, e.g. runs.0.fractions=[1.0]"
            )
        if given and any(key == m or key.startswith(m + ".") for m in moot):
            raise ConfigError(
                f"{arg} has no effect: the baseline is train.init_from={given} (its architecture from the file, "
                "not trained); drop it, or drop train.init_from to train one"
            )


def _file_has_architecture(model: Mapping[str, Any]) -> bool:
    """Whether a ``train.init_from`` file names the network itself (the DCASE21/22 family's checkpoints and Keras
    files carry their spec), so the ``model`` config is not read; any other family's file is weights only."""
    from asc.nets import family_of

    try:
        return family_of(model).exact_surgery
    except ValueError:  # an unknown model name: validation names it
        return False


def check_effects(
    cfg: Mapping[str, Any], *, prune_choice: str | None = None, overrides: Sequence[str] = ()
) -> None:
    """Raise :class:`ConfigError` for the first given value that the job would not read (module docstring).
    ``prune_choice``: the ``prune=<file>`` the command line chose, to name it (None: the criterion's name);
    ``overrides``: the job's command-line overrides (Hydra's task overrides), for what they touch that the job
    does not do (fine-tuning options without fine-tuning, the model of a baseline given by file)."""
    _refuse_other_datasets_keys(cfg["dataset"])
    _refuse_moot_overrides(cfg, overrides)
    _refuse_shadowed(cfg, prune_choice)
    widths = cfg["model"].get(
        "widths"
    )  # the DCASE21 family's C1…Cn; other families map no dense rows by hand
    last_conv = f"C{len(widths)}" if isinstance(widths, list) and widths else None
    for key, entry, defaults in _in_use(cfg, prune_choice):
        _ignored_by_mode(key, entry, defaults, last_conv)


_WARNED: set[str] = set()  # one line per process, however many jobs of a sweep meet it


def meaningless(cfg: Mapping[str, Any], steps: Sequence[Any]) -> list[str]:
    """Combinations that run but whose numbers mean nothing, one line each: a given model evaluated on a
    generated set (trained on other data, its accuracy on synthetic clips says nothing), and a results folder
    that already holds rows of another dataset (the tables then put unrelated sets side by side)."""
    from pathlib import Path

    from asc.data.kinds import kind_of
    from asc.pipeline.stages.dataset import results_label
    from asc.report.rows import ROW_STAGE

    lines, d, t = [], cfg["dataset"], cfg["train"]
    if t.get("init_from") and kind_of(d).generated:
        lines.append(
            f"train.init_from={t['init_from']} is evaluated on dataset={d['name']}, a synthetic set: unless it was "
            "trained on that very set its numbers mean nothing (choose its own dataset, e.g. dataset=tau2020mobile)"
        )
    table = Path(cfg["paths"]["results"]) / "results.csv"
    if any(s.stage in ROW_STAGE for s in steps) and table.is_file():
        import pandas as pd

        try:
            labels = set(pd.read_csv(table, usecols=["dataset"], dtype=str)["dataset"].dropna())
        except (ValueError, OSError):
            labels = set()  # the results-table checks name what is wrong with it
        ours = results_label(cfg, steps)
        others = sorted(labels - {ours})
        if others:
            lines.append(
                f"paths.results={cfg['paths']['results']} already holds rows of {', '.join(others)}; this job adds "
                f"{ours}: give it a results folder of its own (e.g. paths.results={cfg['paths']['results']}_{ours})"
            )
    return lines


def warn_meaningless(cfg: Mapping[str, Any], steps: Sequence[Any]) -> None:
    """Log each line of :func:`meaningless` once (a warning: the job still runs)."""
    import logging

    for line in meaningless(cfg, steps):
        if line not in _WARNED:
            _WARNED.add(line)
            logging.getLogger("asc").warning(line)
