"""Check the whole composed config before any stage runs: each error names the key, the value and what is valid.

Without this, a typo surfaced only after the baseline had trained (``prune.ratio=1.5``) or left an untrained
model behind (``train.epochs=0``). Checks here are about values; data-dependent ones (a fraction too small for
the smallest stratum) run as soon as the index exists, still before any training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.config_files import check_known_keys
from asc.core.errors import ConfigError
from asc.core.values import boolean, choice, fail, integer, listed, number
from asc.data.kinds import kind_of
from asc.data.layouts import layout_of
from asc.data.tasks import task_of
from asc.frontend.frontend_options import check_features
from asc.pipeline.chain import STAGES
from asc.prune import sensitivity
from asc.prune.options import check_criterion, check_criterion_keys, check_layer_set
from asc.report import figure_output
from asc.training import qat, recipes
from asc.training.speed import check_runtime

# asc/prune/sensitivity.py declares its own key (a sensitivity scan's ratios)
RUNS_KEYS = (
    "criteria",
    "layer_sets",
    "fractions",
    "splits",
    "repeats",
    "per_device",
    "teacher",
    sensitivity.RUNS_KEY,
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
    from asc.nets.model_spec import check_config

    return check_config(m)


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first invalid value of the resolved config, asking each fact's owner
    in turn: the config files' keys, the job's switches, the runtime, the tracking backend, the dataset (its
    kind, layout and downloads), the front end, the model's family, the recipes, the criteria, the runs."""
    # The recipes follow the dataset (conf/config.yaml): a dataset config of the user's own has none.
    lacking = [group for group in ("train", "finetune") if not cfg.get(group)]
    if lacking:
        raise no_recipe(cfg["dataset"]["name"], lacking)
    check_known_keys(cfg)  # asc.core.config_files: a key no config file has
    task_of(cfg["dataset"])  # dataset.task: one of asc.data.tasks.TASKS
    layout_of(cfg["dataset"])  # a set of asc.data.layouts: its layout known
    _job(cfg)
    check_runtime(cfg["runtime"])  # asc.training.speed: the speed and I/O options
    figure_output.from_config(cfg["runtime"].get("figures"))  # asc.report.figure_output: the figures' files
    from asc.report.tracking import check as check_tracking

    check_tracking(cfg)  # the backend's packages installed, before anything is built
    d = cfg["dataset"]
    _dataset(d)
    if (
        layout_of(d) is not None
    ):  # its own values are the layout's check, at planning (asc.pipeline.stages.dataset)
        return
    check_features(cfg["features"], d)  # asc.frontend.frontend_options: the front end's values
    layers = _model(cfg)
    recipes.check_training(cfg)  # train, finetune and perdevice recipes, seeds, splits
    qat.check(cfg)  # finetune.qat: a boolean, on the DCASE family only (asc/training/qat.py)
    for name, p in cfg["criteria"].items():  # asc.prune.options: each criterion's declaration
        check_criterion(f"criteria.{name}", p, layers)
        check_criterion_keys(f"criteria.{name}", p, file=name, graph=layers is None)
    if cfg.get("prune"):
        _named("prune", cfg["prune"])
        check_criterion("prune", cfg["prune"], layers)
        check_criterion_keys("prune", cfg["prune"], graph=layers is None)
    _runs(cfg, layers)


def _job(cfg: Mapping[str, Any]) -> None:
    """The job's own switches: its folders, ``dry_run``, ``report_only`` and ``stage``."""
    for key in ("data", "store", "results"):
        value = cfg["paths"][key]
        if not isinstance(value, str) or not value.strip():
            fail(f"paths.{key}", value, "a folder (a non-empty path)")
    for key in ("dry_run", "report_only"):
        boolean(key, cfg[key])
    choice("stage", cfg["stage"], STAGES)
    if cfg["report_only"] and cfg["stage"] != "report":
        fail("report_only", cfg["report_only"], "stage=report (it only rewrites the report)")


def _dataset(d: Mapping[str, Any]) -> None:
    """The ``dataset`` node: its audio, validation split and complexity rule, its kind's own options
    (asc.data.kinds) and the downloaded sets' options."""
    integer("dataset.sample_rate", d["sample_rate"], 1)
    number("dataset.clip_seconds", d["clip_seconds"], 0.0, 3600.0)
    layout = layout_of(d)  # a set of asc.data.layouts: its own hold-out methods (none: dataset stage only)
    if layout is None or layout.validation_methods:
        methods = layout.validation_methods if layout is not None else ("grouped", "official")
        choice("dataset.validation.method", d["validation"]["method"], methods)
        if (
            layout is None or d["validation"]["method"] != "official"
        ):  # a set's own split (FSD50K's) draws none
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


def _named(key: str, p: Mapping[str, Any]) -> None:
    """An option added to ``prune`` with no criterion chosen (``+prune.schedule=3`` without ``prune=<name>``):
    ConfigError in one line saying where the option goes."""
    if p.get("name") is None:
        option = next(k for k in p if k != "name")
        raise ConfigError(
            f"{key}.{option}={p[option]!r} has no criterion to apply to: choose one (prune=l1 prune.ratio=0.5 "
            f"+{key}.{option}={p[option]!r}), or set it on a runs block's criterion (+criteria.l1.{option}=...)"
        )


def _runs(cfg: Mapping[str, Any], layers: Sequence[str] | None) -> None:
    """The ``runs`` blocks: which criteria, layer sets, fractions or splits and repeats the job builds."""
    if not isinstance(cfg["runs"], list):
        fail(
            "runs",
            cfg["runs"],
            "a list of {" + ", ".join(RUNS_KEYS) + "} blocks",
        )
    for i, block in enumerate(cfg["runs"]):
        key = f"runs[{i}]"
        unknown = set(block) - set(RUNS_KEYS)
        if unknown:
            fail(f"{key} keys", sorted(unknown), ", ".join(RUNS_KEYS))
        for name in listed(f"{key}.criteria", block.get("criteria")):
            choice(f"{key}.criteria", name, sorted(cfg["criteria"]))
        for layer_set in listed(f"{key}.layer_sets", block.get("layer_sets")):
            check_layer_set(f"{key}.layer_sets", layer_set, layers, "lists")
        listed(f"{key}.splits", block.get("splits"))
        for fraction in listed(f"{key}.fractions", block.get("fractions")):
            number(f"{key}.fractions", fraction, 0.0, 1.0)
        for split in block.get("splits") or []:
            choice(f"{key}.splits", split, recipes.SPLIT_NAMES)
        pruned = [("prune", cfg["prune"])] if cfg.get("prune") else None
        pruned = pruned or [(f"criteria.{n}", cfg["criteria"][n]) for n in block.get("criteria") or []]
        sensitivity.check_block(key, block, pruned)  # asc/prune/sensitivity.py: ratios, ratio criteria
        tunes = bool(block.get("fractions") or block.get("splits"))
        if (
            block.get("repeats") is None
        ):  # the top-level `repeats` fills it (asc.pipeline.stages.prune.block_repeats)
            integer("repeats", cfg.get("repeats"), 1 if tunes else 0)
        else:
            integer(f"{key}.repeats", block["repeats"], 1 if tunes else 0)
        if block.get("per_device") is not None and not isinstance(block["per_device"], bool):
            fail(f"{key}.per_device", block["per_device"], "true or false")
        if block.get("per_device") and not tunes:
            fail(f"{key}.per_device", True, "fractions or splits to fine-tune the general models on first")
