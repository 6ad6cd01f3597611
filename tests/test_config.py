"""Config composition: the default config and every option of every group compose and resolve with Hydra."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import config_fixtures
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import asc.app.cli  # noqa: F401  (registers the ${asc_invocation:} resolver that run and sweep folders use)
from asc import nets
from asc.frontend.features import LogMel
from asc.frontend.frontend_options import FrontEnd
from asc.nets import family_of
from asc.nets.model import build_model, conv_names
from asc.pipeline.chain import STAGES
from asc.pipeline.plan import make_plan
from asc.pipeline.stages.features import frames_per_clip
from asc.pipeline.validate import validate
from asc.prune import CRITERIA

CONF = config_fixtures.CONF
GROUPS = (
    "dataset",
    "features",
    "model",
    "train",
    "prune",
    "finetune",
    "perdevice",
    "experiment",
    "protocol",
    "tracking",
)
# Found by globbing, so a new YAML file in any group folder is covered without touching this test.
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]
PAPER_CRITERIA = ["cosine", "chebyshev", "average", "l1", "random"]
FIT_KEYS = {"epochs", "batch_size", "lr", "adam_eps", "select_after", "select_on", "precision"}


def composed(*overrides: str) -> dict[str, Any]:
    """Compose conf/config.yaml with ``overrides`` and resolve everything but the ``hydra`` node."""
    cfg = config_fixtures.composed(*overrides)  # the one way tests compose a config
    assert "hydra" not in cfg
    return cfg


def test_every_group_folder_has_options() -> None:
    folders = {p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra"}
    assert set(GROUPS) <= folders, f"missing group folder(s): {set(GROUPS) - folders}"
    for group in folders:  # a group folder nobody tests would be a gap in OPTIONS
        assert group in GROUPS, f"conf/{group}/ is a new group: add it to GROUPS"
        assert list((CONF / group).glob("*.yaml")), f"conf/{group}/ has no options"


def test_default_config() -> None:
    cfg = composed()
    assert cfg["stage"] in STAGES and cfg["stage"] == "report"
    assert cfg["dataset"]["name"] == "demo"
    assert cfg["features"]["name"] == "logmel40x500"
    assert cfg["model"]["name"] == "dcase21"
    assert cfg.get("prune") is None  # no single criterion selected: the experiment's runs say what to prune
    assert set(cfg["criteria"]) >= set(PAPER_CRITERIA)
    assert cfg["protocol"]["name"] == "ours"
    # The demo dataset's short schedules; experiment=demo is the default overlay: the five paper criteria.
    assert cfg["train"]["name"] == "demo" and cfg["finetune"]["name"] == "demo"
    assert cfg["runs"][0]["criteria"] == PAPER_CRITERIA
    assert set(cfg["paths"]) >= {"data", "store", "results"}
    assert cfg["seed"] == 0 and cfg["runtime"]["device"] in ("auto", "cpu", "cuda")


def test_experiment_demo_sets_the_paper_criteria() -> None:
    cfg = composed("experiment=demo")
    assert cfg["runs"][0]["criteria"] == PAPER_CRITERIA
    assert cfg["runs"][0]["layer_sets"] == [["C1", "C2", "C3"]]
    # train/demo.yaml extends train/baseline.yaml: shorter schedule, same optimiser.
    baseline = composed("train=baseline")["train"]
    assert cfg["train"]["name"] == "demo"
    assert cfg["train"]["epochs"] < baseline["epochs"] == 200
    assert cfg["train"]["lr"] == baseline["lr"] == 1e-3
    assert cfg["train"]["adam_eps"] == baseline["adam_eps"] == 1e-7
    assert set(cfg["runs"][1]["criteria"]) <= set(cfg["runs"][0]["criteria"])
    # fine-tuning uses the baseline's optimiser: one source for each value
    assert (
        cfg["finetune"]["lr"] == cfg["train"]["lr"]
        and cfg["finetune"]["adam_eps"] == cfg["train"]["adam_eps"]
    )


@pytest.mark.parametrize(
    ("overrides", "train", "finetune"),
    [
        ((), ("demo", 12), ("demo", 4)),
        (("dataset=tau2020mobile",), ("baseline", 200), ("default", 30)),  # the real data: the paper's recipe
        (("dataset=standin",), ("demo", 12), ("demo", 4)),
        (("experiment=demo", "dataset=tau2020mobile"), ("baseline", 200), ("default", 30)),
        (("dataset=tau2020mobile", "train=demo"), ("demo", 12), ("default", 30)),  # the user's choice wins
        (("dataset=tau2020mobile", "finetune=demo", "train.epochs=7"), ("baseline", 7), ("demo", 4)),
        (("experiment=paper", "dataset=standin"), ("baseline", 200), ("default", 30)),
        (("experiment=paper_fig5",), ("baseline", 200), ("default", 30)),
    ],
)
def test_the_recipe_follows_the_dataset(overrides, train, finetune) -> None:
    """`asc dataset=tau2020mobile` once trained the demo's 12 epochs on 27 GB; the names say the recipe."""
    cfg = composed(*overrides)
    assert (cfg["train"]["name"], cfg["train"]["epochs"]) == train
    assert (cfg["finetune"]["name"], cfg["finetune"]["epochs"]) == finetune
    paper = composed("train=baseline", "finetune=default")
    for stage, (name, _) in (("train", train), ("finetune", finetune)):
        if name in ("baseline", "default") and "train.epochs=7" not in overrides:
            assert (
                cfg[stage] == paper[stage]
            )  # the paper's recipe is exactly train/baseline + finetune/default


def test_every_dataset_has_its_recipes() -> None:
    """The defaults list picks train/<dataset> and finetune/<dataset>: a dataset config needs both."""
    for dataset in (CONF / "dataset").glob("*.yaml"):
        assert (CONF / "train" / dataset.name).is_file() and (CONF / "finetune" / dataset.name).is_file(), (
            dataset
        )


def test_command_line_overrides_apply() -> None:
    cfg = composed("runs.0.criteria=[cosine,l1]", "train.lr=0.002", "dataset.cities=[barcelona]")
    assert cfg["runs"][0]["criteria"] == ["cosine", "l1"]
    assert cfg["finetune"]["lr"] == 0.002  # interpolated from train.lr
    assert cfg["train"]["lr"] == 0.002
    assert cfg["dataset"]["cities"] == ["barcelona"]


def test_paths_interpolate_into_the_tau_config() -> None:
    cfg = composed("dataset=tau2020mobile", "paths.data=/somewhere/data")
    assert cfg["dataset"]["root"].startswith("/somewhere/data/")
    assert cfg["dataset"]["download_dir"].startswith("/somewhere/data/")


def _recipe_name(group: str, name: str) -> str:
    """An option is named after its file, except a recipe chosen for a dataset (train/tau2020mobile.yaml) that
    only extends another: it keeps that recipe's name (the dry run names the recipe a job uses)."""
    import yaml

    data = yaml.safe_load((CONF / group / f"{name}.yaml").read_text()) or {}
    if set(data) == {"defaults"}:
        return _recipe_name(group, next(d for d in data["defaults"] if d != "_self_"))
    return name


# 1-s datasets (TAU 2022 layout) need the 1-s front end and network; a variant of a generated set keeps the
# generator's name (the dataset stage dispatches on it).
COMPANIONS = {
    name: ["features=logmel40x51", "model=dcase22"] for name in ("demo1s", "standin1s", "tau2022mobile")
}
# The sets of asc.data.layouts without an index reader run their dataset stage only; the 16-kHz scene demo needs a
# 16-kHz front end.
LAYOUT_SETS = ("esc50", "tut2018", "fsd50k", "audioset", "tagging_demo")
COMPANIONS |= {name: ["stage=dataset"] for name in LAYOUT_SETS} | {
    "audioset": ["stage=dataset", "dataset.root=x"],
    "fsd50k": ["stage=dataset", "dataset.download=true"],  # a brought folder (the default) is read to plan
}
COMPANIONS |= {"demo16k": ["features=logmel40x500_16k"], "logmel40x500_16k": ["dataset=demo16k"]}
VARIANT_OF = {"demo1s": "demo", "standin1s": "standin", "demo16k": "demo"}
# The zoo (asc/nets/): a network's config brings its front end; a zoo front end is tried with a network of its
# own, and the 1-s DCASE 2024 network and front end with the 1-s demo.
COMPANIONS |= {
    "dcase2024": ["dataset=demo1s", "model=dcase2024"],
    "panns64": ["model=panns_cnn10"],
    "vggish64": ["model=vggish_asc"],
    "efficientat128": ["model=efficientat_mn04"],
    "custom": ["model.factory=mypkg.nets:tiny"],
}
# The follow-up papers' experiments on data that runs here: VGGish_Net on the 16-kHz demo; the PANNs ones on
# AudioSet, whose index and features are not wired past stage=dataset yet (their plans: test_panns_experiments).
COMPANIONS |= {"nystrom_vggish": ["dataset=demo16k"]}
COMPANIONS |= {name: ["stage=dataset", "dataset.root=x"] for name in ("centrality_panns", "epanns")}


@pytest.mark.parametrize(("group", "name"), OPTIONS, ids=[f"{g}={n}" for g, n in OPTIONS])
def test_every_option_composes_and_resolves(group: str, name: str, tmp_path: Path) -> None:
    layout_set = group == "dataset" and name in LAYOUT_SETS  # train=esc50 etc. are recipes on the demo
    cfg = composed(
        f"{group}={name}", *COMPANIONS.get(name, []) if layout_set or name not in LAYOUT_SETS else []
    )
    if group == "prune":  # a preset of a criterion (authors_kept) names the criterion it configures
        assert cfg["prune"]["name"] in CRITERIA
    elif group not in ("experiment", "protocol"):
        wanted = VARIANT_OF[name] if group == "dataset" and name in VARIANT_OF else _recipe_name(group, name)
        assert cfg[group]["name"] == wanted, f"conf/{group}/{name}.yaml has name {cfg[group]['name']!r}"

    # What the pipeline does with each group must work on what the group holds.
    validate(cfg)
    if layout_set:
        if name != "audioset":  # its plan reads the files (tests/test_datasets_beyond_tau.py)
            stages = [s.stage for s in make_plan(cfg)]
            assert stages[1] == "index"  # every layout reads its index: the whole chain runs on it
        return
    LogMel(FrontEnd.from_config(cfg["features"]))
    samples = round(cfg["dataset"]["clip_seconds"] * cfg["features"]["sample_rate"])
    assert frames_per_clip(cfg["features"], cfg["dataset"]["clip_seconds"]) >= cfg["features"]["frames"]
    if not family_of(cfg["model"]).exact_surgery:  # a zoo network: built by asc.nets; its groups are pruned
        if cfg["model"]["name"] != "custom":  # by the dependency graph, not planned by C1…Cn names here
            with torch.device("meta"):
                nets.build(cfg["model"])
        return
    model = build_model({k: v for k, v in cfg["model"].items() if k != "name"})
    layers = conv_names(model.spec)
    assert samples in (44_100, 441_000, 160_000)  # TAU 2022's 1-s or TAU 2020's 10-s clips; the 16-kHz demo
    for stage in ("train", "finetune"):
        assert FIT_KEYS <= set(cfg[stage]), f"{stage} lacks {FIT_KEYS - set(cfg[stage])}"
    assert cfg["stage"] in STAGES

    # The runs expand into prune steps that name existing criteria and layers, without writing anything.
    cfg["paths"] = {"data": str(tmp_path / "d"), "store": str(tmp_path / "s"), "results": str(tmp_path / "r")}
    prunes = [s for s in make_plan(cfg) if s.stage == "prune"]
    assert prunes or group == "experiment"
    for step in prunes:
        assert step.config["name"] in CRITERIA
        assert step.config["layers"] and set(step.config["layers"]) <= set(layers)
    assert not list(tmp_path.iterdir()), "planning must not write anything"


LAUNCHERS = sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml"))
PLUGINS = {
    "joblib": "hydra_plugins.hydra_joblib_launcher",
    "submitit": "hydra_plugins.hydra_submitit_launcher",
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launcher_presets_compose(launcher: str) -> None:
    preset = OmegaConf.load(CONF / "hydra" / "launcher" / f"{launcher}.yaml")
    for base in preset.get("defaults", []):
        plugin = next((module for prefix, module in PLUGINS.items() if str(base).startswith(prefix)), None)
        if plugin:  # the plugins are optional extras ([parallel], [slurm])
            pytest.importorskip(plugin)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True
        )
    resolved = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    module, _, name = resolved["_target_"].rpartition(".")
    assert hasattr(importlib.import_module(module), name), resolved["_target_"]
    for key, value in OmegaConf.to_container(preset).items():  # the preset's own settings reach Hydra
        if key != "defaults":
            assert resolved[key] == value, key
