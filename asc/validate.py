"""Check the whole composed config before any stage runs: each error names the key, the value and what is valid.

Without this, a typo surfaced only after the baseline had trained (``prune.ratio=1.5``) or left an untrained
model behind (``train.epochs=0``). Checks here are about values; data-dependent ones (a fraction too small for
the smallest stratum) run as soon as the index exists, still before any training.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc import recipes
from asc.chain import STAGES
from asc.config_files import CONF_DIR
from asc.data.kinds import kind_of
from asc.data.layouts import check_stage, layout_of
from asc.errors import ConfigError
from asc.prune.options import CRITERION_NAMES, DECIDE_THEIR_COUNT, GRAPH_OPTIONS, OPTION_CHOICES
from asc.sampling import SAMPLINGS, UNIFORM
from asc.tasks import task_of
from asc.values import boolean, choice, fail, integer, listed, number

RUNS_KEYS = ("criteria", "layer_sets", "fractions", "splits", "repeats", "per_device", "teacher")
SPLIT_NAMES = ("split5", "split10", "split25", "split50", "split100")  # DCASE 2024 (asc.data.tau2022)


def _recipe(prefix: str, r: Mapping[str, Any], allow_test: bool) -> None:
    integer(f"{prefix}.epochs", r["epochs"], 1)
    integer(f"{prefix}.batch_size", r["batch_size"], 1)
    number(f"{prefix}.lr", r["lr"], 0.0, math.inf)
    number(f"{prefix}.adam_eps", r["adam_eps"], 0.0, math.inf)
    integer(f"{prefix}.select_after", r["select_after"], 0)
    choice(f"{prefix}.select_on", r["select_on"], ("val", "test"))
    choice(f"{prefix}.precision", r["precision"], ("fp32", "tf32", "bf16"))
    choice(f"{prefix}.sampling", r.get("sampling") or UNIFORM, SAMPLINGS)
    choice(f"{prefix}.optimizer", r["optimizer"], recipes.OPTIMIZERS)
    number(f"{prefix}.weight_decay", r["weight_decay"], 0.0, 1.0, low_open=False, high_open=True)
    if r["optimizer"] == "adam" and r["weight_decay"]:
        fail(
            f"{prefix}.weight_decay",
            r["weight_decay"],
            f"0 with {prefix}.optimizer=adam (or optimizer=adamw)",
        )
    choice(f"{prefix}.schedule", r["schedule"], recipes.SCHEDULES)
    integer(f"{prefix}.warmup_steps", r["warmup_steps"], 0)
    if "select" in r:  # the per-device recipe has none: its models always keep the last epoch
        choice(f"{prefix}.select", r["select"], recipes.SELECTIONS)
    choice(f"{prefix}.eval_precision", r["eval_precision"], recipes.EVAL_PRECISIONS)
    if recipes.selects_on_test(r) and not allow_test:
        raise ConfigError(
            f"{prefix}.select_on=test with {prefix}.select=best picks the epoch on the test split, the split the "
            f"results report (optimistic): set {prefix}.select_on=val, {prefix}.select=last (no selection, as the "
            "DCASE 2024/2025 baselines), or say so with protocol.allow_test_selection=true (protocol=authors does)"
        )


def _official_split(t: Mapping[str, Any], finetune: Mapping[str, Any]) -> None:
    """``train.split``: DCASE 2024/2025 draw a split from all of fold1_train, so the val hold-out is in it."""
    split = t.get("split")
    if split is None:
        return
    if split not in SPLIT_NAMES:
        fail("train.split", split, "null or one of " + ", ".join(SPLIT_NAMES))
    if t.get("init_from"):
        fail("train.split", split, "null with train.init_from (a given model is not trained)")
    for key, stage in (("train", t), ("finetune", finetune)):
        if recipes.selected_on(stage) == "val":
            raise ConfigError(
                f"train.split={split} trains on clips of all fold1_train, the val hold-out included, so "
                f"{key}.select_on=val would select on training clips: set {key}.select=last (as DCASE 2024/2025, "
                f"e.g. train=dcase2024 finetune=dcase2024) or {key}.select_on=test with "
                "protocol.allow_test_selection=true"
            )


def _prune(key: str, p: Mapping[str, Any], layers: Sequence[str] | None) -> None:
    """``layers``: the model's conv names (the DCASE family), or None for a network pruned by dependency-graph
    surgery, whose names (C1…Cn, module paths, globs) the prune stage's check resolves on the traced network."""
    choice(f"{key}.name", p.get("name"), CRITERION_NAMES)
    chosen = [p["layers"]] if isinstance(p.get("layers"), str) else list(p.get("layers") or [])
    unknown = layers is not None and any(name not in layers for name in chosen)
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        fail(
            f"{key}.layers",
            chosen,
            f"a non-empty list of distinct conv layers of the model {list(layers or [])}",
        )
    if p.get("ratio") is not None:
        number(f"{key}.ratio", p["ratio"], 0.0, 1.0, low_open=False, high_open=True)
    if not isinstance(p.get("per_layer_ratio") or {}, Mapping):
        fail(
            f"{key}.per_layer_ratio",
            p["per_layer_ratio"],
            f"a mapping {{layer: ratio}}, e.g. '++{key}.per_layer_ratio.C1=0.5'",
        )
    for layer, ratio in (p.get("per_layer_ratio") or {}).items():
        if layers is not None:
            choice(f"{key}.per_layer_ratio key", layer, chosen)
        number(f"{key}.per_layer_ratio.{layer}", ratio, 0.0, 1.0, low_open=False, high_open=True)
    _criterion_options(key, p, chosen)


def _criterion_options(key: str, p: Mapping[str, Any], layers: Sequence[str]) -> None:
    for option, choices in OPTION_CHOICES.items():
        if option in p:
            choice(f"{key}.{option}", p[option], choices)
    if p.get("match") is not None:  # ratio: null + match: the kept count of another criterion
        choice(f"{key}.match", p["match"], DECIDE_THEIR_COUNT)
    if "reference" in p:  # random: the widths of another criterion
        choice(f"{key}.reference", p["reference"], DECIDE_THEIR_COUNT)
    if "seed" in p:
        integer(f"{key}.seed", p["seed"], 0)
    if p.get("round_decimals") is not None:
        integer(f"{key}.round_decimals", p["round_decimals"], 0)
    if "landmarks" in p:
        value = p["landmarks"]
        per_layer = value if isinstance(value, Mapping) else dict.fromkeys(layers, value)
        for layer in layers:
            m = per_layer.get(layer)
            if m != "auto" and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
                fail(
                    f"{key}.landmarks",
                    value,
                    f"an int >= 1, auto, or one of them per layer of {list(layers)}",
                )


def _download_urls(d: Mapping[str, Any]) -> None:
    """``base_url`` an http(s) URL with a host (or file:), ``url_template`` a text with ``{name}`` that formats
    to such a URL (asc/data/zenodo.py formats it with base_url and each archive's name)."""
    from urllib.parse import urlsplit

    def usable(url: Any) -> bool:
        parts = urlsplit(str(url))
        return parts.scheme == "file" or (parts.scheme in ("http", "https") and bool(parts.hostname))

    if "base_url" in d and not usable(d["base_url"]):
        fail("dataset.base_url", d["base_url"], "an http(s):// URL with a host, or a file: URL")
    if "url_template" not in d:
        return
    template = d["url_template"]
    try:
        url = template.format(base_url=str(d.get("base_url", "")).rstrip("/"), name="archive.zip")
    except (AttributeError, KeyError, IndexError, ValueError):
        url = None
    if not isinstance(template, str) or "{name}" not in template or not usable(url):
        fail("dataset.url_template", template, "a URL with {name} (and {base_url}), e.g. '{base_url}/{name}'")


@functools.cache
def _criterion_files() -> dict[str, dict[str, Any]]:
    """conf/prune/<file>.yaml → its keys and criterion name, as written (what a criterion has as options)."""
    from omegaconf import OmegaConf

    files = {}
    for path in sorted((CONF_DIR / "prune").glob("*.yaml")):
        conf = OmegaConf.load(path)
        files[path.stem] = {"name": conf.get("name"), "options": frozenset(conf.keys())}
    return files


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
def _known_keys() -> dict[str, frozenset[str]]:
    """The keys asc reads, per config node: those its own config files write (conf/config.yaml for the top level,
    runtime, runtime.latency and paths; the union over a group's files for each group)."""
    from omegaconf import OmegaConf

    def keys(conf: Any) -> set[str]:
        return {k for k in conf.keys() if k not in ("defaults", "hydra")}

    top = OmegaConf.load(CONF_DIR / "config.yaml")
    known = {"": keys(top) | set(GROUPS) | {"criteria", "prune"}}
    for node in ("runtime", "runtime.latency", "paths"):
        known[node] = keys(OmegaConf.select(top, node))
    for group in GROUPS:
        known[group] = set().union(*(keys(OmegaConf.load(f)) for f in (CONF_DIR / group).glob("*.yaml")))
    return {node: frozenset(k) for node, k in known.items()}


def _unknown_keys(cfg: Mapping[str, Any]) -> None:
    """A key no config file of asc has (``+train.epoch=3``, ``+features.nmels=64``) is read by nothing: it would
    change an artifact's key while the run did what the defaults say."""
    import difflib

    for node, known in _known_keys().items():
        value = cfg if not node else functools.reduce(lambda c, k: c.get(k) or {}, node.split("."), cfg)
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


def _options_of_the_criterion(key: str, p: Mapping[str, Any], file: str | None = None) -> None:
    """A key the criterion's config files do not have (``+prune.ratio=0.3`` or ``+criteria.cosine.ratio=0.3`` on
    cosine, a misspelt ``+criteria.l1.ratoi``, or a sweep's shared option that one of its criteria lacks) would be
    ignored by the criterion yet change its key. ``file``: the conf/prune file the entry was composed from."""
    files = _criterion_files()
    mine = [files[file]] if file in files else [f for f in files.values() if f["name"] == p["name"]]
    if not mine:
        return  # a criterion of the user's own config: its options are its own
    known = set().union(*(f["options"] for f in mine), GRAPH_OPTIONS)
    for extra in sorted(set(p) - known):
        fail(
            f"{key}.{extra}",
            p[extra],
            f"an option of criterion {p['name']} ({', '.join(sorted(known - {'name'}))}); criterion {p['name']} has "
            "no such option: drop it, or sweep only criteria that have it",
        )


def no_recipe(dataset: str, groups: Sequence[str]) -> ConfigError:
    """The error for a dataset config without its training recipes (``groups``: train, finetune)."""
    files = " and ".join(f"conf/{g}/<dataset>.yaml" for g in groups)
    return ConfigError(
        f"the dataset config (name: {dataset}) has no training recipe ({files}, e.g. `defaults: [baseline]` for "
        "the paper's or `[demo]` for the short one, beside your dataset config): add them, or choose on the "
        "command line: train=baseline finetune=default (the paper's) or train=demo finetune=demo"
    )


def _model(cfg: Mapping[str, Any]) -> list[str] | None:
    """Check the ``model`` node by its family's declaration (asc/nets/families.py); the conv layer names a layer
    set may use (C1, C2, ...) for the DCASE21/22 family, None for the zoo's other families (their layers and
    groups are resolved when the network is built)."""
    from asc.nets import family_of
    from asc.nets.options import check_model

    m = cfg["model"]
    try:
        fam = family_of(m)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not fam.exact_surgery:
        check_model(fam, m, cfg["features"])
        return None
    from asc.model_spec import check_shape, conv_names, normalise_spec

    for key in ("kernel", "dense", "n_classes"):
        integer(f"model.{key}", m[key], 1)
    widths = listed("model.widths", m["widths"])
    for i, width in enumerate(widths):
        integer(f"model.widths[{i}]", width, 1)
    shape = m["input_shape"]
    if not isinstance(shape, list) or len(shape) != 2:
        fail("model.input_shape", shape, "[mel bands, frames], e.g. [40, 500]")
    for i, n in enumerate(shape):
        integer(f"model.input_shape[{i}]", n, 1)
    pools = m["pools"]
    if not isinstance(pools, list) or len(pools) != len(widths):
        fail("model.pools", pools, f"one entry per conv layer ({len(widths)}): null or [rows, columns]")
    for i, pool in enumerate(pools):
        if pool is not None and not (
            isinstance(pool, list) and len(pool) == 2 and all(isinstance(v, int) and v >= 1 for v in pool)
        ):
            fail(f"model.pools[{i}]", pool, "null or [rows, columns] of integers >= 1")
    number("model.dropout", m["dropout"], 0.0, 1.0, low_open=False, high_open=True)
    number("model.bn_eps", m["bn_eps"], 0.0, 1.0)
    # torch's momentum: the weight of the new batch statistics (Keras' 0.99 is torch's 0.01)
    number("model.bn_momentum", m["bn_momentum"], 0.0, 1.0)
    try:
        spec = normalise_spec({k: v for k, v in cfg["model"].items() if k != "name"})
        check_shape(spec)
        layers = conv_names(spec)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model: {err}") from None
    return layers


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first invalid value of the resolved config."""
    # The recipes follow the dataset (conf/config.yaml): a dataset config of the user's own has none.
    lacking = [group for group in ("train", "finetune") if not cfg.get(group)]
    if lacking:
        raise no_recipe(cfg["dataset"]["name"], lacking)
    _unknown_keys(cfg)
    task_of(cfg["dataset"])  # dataset.task: one of asc.tasks.TASKS
    check_stage(cfg["dataset"], cfg["stage"])  # a set of asc.data.layouts: its layout known, stage=dataset
    for key in ("data", "store", "results"):
        value = cfg["paths"][key]
        if not isinstance(value, str) or not value.strip():
            fail(f"paths.{key}", value, "a folder (a non-empty path)")
    for key in ("dry_run", "report_only"):
        boolean(key, cfg[key])
    choice("stage", cfg["stage"], STAGES)
    if cfg["report_only"] and cfg["stage"] != "report":
        fail("report_only", cfg["report_only"], "stage=report (it only rewrites the report)")
    rt = cfg["runtime"]
    choice("runtime.device", rt["device"], ("auto", "cpu", "cuda"))
    if rt["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail("runtime.device", "cuda", "auto or cpu: torch sees no CUDA device here")
    from asc.speed import speed_options

    speed_options(rt)  # compile, formulation, cuda_graphs, cudnn_benchmark
    if rt["num_threads"] is not None:
        integer("runtime.num_threads", rt["num_threads"], 1)
    for key in ("workers", "feature_batch_size", "eval_batch_size"):
        integer(f"runtime.{key}", rt[key], 1)
    for key in ("fuse", "channels_last"):
        boolean(f"runtime.{key}", rt[key])
    boolean("runtime.progress", rt["progress"], none=True)
    from asc.tracking import check as check_tracking

    check_tracking(cfg)  # the backend's packages installed, before anything is built
    d = cfg["dataset"]
    integer("dataset.sample_rate", d["sample_rate"], 1)
    number("dataset.clip_seconds", d["clip_seconds"], 0.0, 3600.0)
    layout = layout_of(d)  # a set of asc.data.layouts: its own hold-out methods (none: dataset stage only)
    if layout is None or layout.validation_methods:
        methods = layout.validation_methods if layout is not None else ("grouped", "official")
        choice("dataset.validation.method", d["validation"]["method"], methods)
        number("dataset.validation.amount", d["validation"]["amount"], 0.0, 1.0, high_open=True)
        integer("dataset.validation.seed", d["validation"]["seed"], 0)
    choice("dataset.complexity_rule", d.get("complexity_rule", "dcase2021"), ("dcase2021", "dcase2022"))
    # the kind's own options: a folder's where and what to fetch, a generator's settings
    kind_of(d).check_options(d)
    for key in ("download", "delete_archives", "content_hash"):  # the downloaded sets' options
        if key in d:
            boolean(f"dataset.{key}", d[key])
    if "retries" in d:
        integer("dataset.retries", d["retries"], 1)
    _download_urls(d)
    if layout is not None:  # its own values are the layout's check, at planning (asc.stages.dataset)
        return
    f = cfg["features"]
    for key in ("n_fft", "win_length", "hop_length", "n_mels", "frames"):
        integer(f"features.{key}", f[key], 1)
    boolean("features.resample", f["resample"])
    # protocol.stats_frames sets it for the 500-frame front end; another `frames` needs it set beside it
    if f["stats_frames"] not in (f["frames"], f["frames"] + 1):
        fail(
            "features.stats_frames",
            f["stats_frames"],
            f"features.frames or one more ({f['frames']} or {f['frames'] + 1}; set it beside features.frames)",
        )
    choice("features.pad_mode", f["pad_mode"], ("reflect", "constant"))
    choice("features.dtype", f["dtype"], ("float32", "float64"))
    if f["sample_rate"] != d["sample_rate"] and not f["resample"]:
        fail(
            "features.sample_rate",
            f["sample_rate"],
            f"dataset.sample_rate ({d['sample_rate']}), or features.resample=true to resample the clips",
        )
    layers = _model(cfg)
    t, allow_test = cfg["train"], cfg["protocol"].get("allow_test_selection", False)
    boolean("protocol.allow_test_selection", allow_test)
    _recipe("train", t, allow_test)
    seeds = t["seeds"]
    if not isinstance(seeds, list) or not seeds:
        fail("train.seeds", seeds, "a non-empty list of integers")
    integer("seed", cfg["seed"], 0)  # train.seeds defaults to [${seed}]: name the key the user typed
    for i, seed in enumerate(seeds):
        integer(f"train.seeds[{i}]", seed, 0)
    if len(set(seeds)) != len(seeds):
        fail("train.seeds", seeds, "distinct seeds (a repeated seed trains the same baseline twice)")
    if t.get("init_from") is not None and not Path(t["init_from"]).is_file():
        fail("train.init_from", t["init_from"], "an existing Keras .h5 or asc model.pt file")
    _official_split(t, cfg["finetune"])
    ft = cfg["finetune"]
    _recipe("finetune", ft, allow_test)
    _recipe("perdevice", cfg["perdevice"], allow_test)
    choice("finetune.train_on", ft["train_on"], ("train", "fold1_train"))
    if ft["train_on"] == "fold1_train" and recipes.selected_on(ft) == "val":
        raise ConfigError(
            "finetune.train_on=fold1_train trains on the val hold-out too, so finetune.select_on=val would select "
            "on training clips: set finetune.select=last (no selection), finetune.select_on=test with "
            "protocol.allow_test_selection=true (as protocol=authors) or finetune.train_on=train"
        )
    choice("finetune.subset", ft["subset"], ("per_repeat", "shared"))
    integer("finetune.seed", ft["seed"], 0)
    for name, p in cfg["criteria"].items():
        _prune(f"criteria.{name}", p, layers)
        _options_of_the_criterion(f"criteria.{name}", p, file=name)
    if cfg.get("prune"):
        _prune("prune", cfg["prune"], layers)
        _options_of_the_criterion("prune", cfg["prune"])
    if not isinstance(cfg["runs"], list):
        fail(
            "runs",
            cfg["runs"],
            "a list of {criteria, layer_sets, fractions, splits, repeats, per_device} blocks",
        )
    for i, block in enumerate(cfg["runs"]):
        key = f"runs[{i}]"
        unknown = set(block) - set(RUNS_KEYS)
        if unknown:
            fail(f"{key} keys", sorted(unknown), ", ".join(RUNS_KEYS))
        for name in listed(f"{key}.criteria", block.get("criteria")):
            choice(f"{key}.criteria", name, sorted(cfg["criteria"]))
        for layer_set in listed(f"{key}.layer_sets", block.get("layer_sets")):
            chosen = [layer_set] if isinstance(layer_set, str) else list(layer_set)
            unknown = layers is not None and any(x not in layers for x in chosen)
            if not chosen or unknown or len(set(chosen)) != len(chosen):
                fail(
                    f"{key}.layer_sets",
                    layer_set,
                    f"lists of distinct conv layers of the model {list(layers)}",
                )
        listed(f"{key}.splits", block.get("splits"))
        for fraction in listed(f"{key}.fractions", block.get("fractions")):
            number(f"{key}.fractions", fraction, 0.0, 1.0)
        for split in block.get("splits") or []:
            choice(f"{key}.splits", split, SPLIT_NAMES)
        tunes = bool(block.get("fractions") or block.get("splits"))
        if block.get("repeats") is None:  # the top-level `repeats` fills it (asc.stages.prune.block_repeats)
            integer("repeats", cfg.get("repeats"), 1 if tunes else 0)
        else:
            integer(f"{key}.repeats", block["repeats"], 1 if tunes else 0)
        if block.get("per_device") is not None and not isinstance(block["per_device"], bool):
            fail(f"{key}.per_device", block["per_device"], "true or false")
        if block.get("per_device") and not tunes:
            fail(f"{key}.per_device", True, "fractions or splits to fine-tune the general models on first")
