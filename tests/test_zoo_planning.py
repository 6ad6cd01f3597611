"""Planning of zoo networks (issue 33, a user's trial): ``train.init_from`` with ``model=<zoo name>`` is not
refused as "no effect" (a zoo network's file is weights only: the ``model`` config builds the network) and the
file is matched at planning; a features config that is not the network's own front end is refused in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from config_fixtures import composed

from asc import nets
from asc.core.errors import ConfigError, InputError
from asc.pipeline.config_effects import check_effects
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.validate import validate

CNN10 = ["model=panns_cnn10", "model.widths=[4,4,8,8]"]


def _planned(tmp: Path, *overrides: str) -> dict:
    args = [f"paths.data={tmp}/data", f"paths.store={tmp}/store", f"paths.results={tmp}/results", *overrides]
    cfg = composed(*args)
    check_effects(cfg, overrides=list(overrides))
    validate(cfg)
    check_plan(make_plan(cfg), cfg, upto="report")
    return cfg


def test_init_from_a_panns_checkpoint_plans_for_a_zoo_network(tmp_path: Path) -> None:
    cfg = composed(*CNN10)
    torch.save({"model": nets.build(cfg["model"]).state_dict(), "iteration": 0}, tmp_path / "Cnn10.pth")
    _planned(tmp_path, *CNN10, f"train.init_from={tmp_path / 'Cnn10.pth'}")  # no "model has no effect"


def test_init_from_with_other_shapes_is_refused_at_planning_naming_the_layer(tmp_path: Path) -> None:
    other = nets.build(composed("model=panns_cnn10", "model.widths=[4,4,8,16]")["model"])
    torch.save(other.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(InputError, match=r"train.init_from=.*sd.pt.* has shape") as err:
        _planned(tmp_path, *CNN10, f"train.init_from={tmp_path / 'sd.pt'}")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "store").exists()


def test_the_model_override_stays_moot_for_a_dcase_file(tmp_path: Path) -> None:
    from model_fixtures import randomised_model

    from asc.nets.model import save_model

    save_model(randomised_model(), tmp_path / "m.pt")
    given = [f"train.init_from={tmp_path / 'm.pt'}", "model=dcase21"]
    with pytest.raises(ConfigError, match="model=dcase21 has no effect"):
        check_effects(composed(*given), overrides=given)


@pytest.mark.parametrize(
    ("model", "features", "own"),
    [
        ("efficientat_mn04", "logmel40x500", "efficientat128"),
        ("panns_cnn14", "vggish64", "panns64"),
        ("vggish_asc", "panns64", "vggish64"),
    ],
)
def test_features_of_another_front_end_are_refused_naming_both(model: str, features: str, own: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(composed(f"model={model}", f"features={features}"))
    line = str(err.value)
    assert f"features={features} is not the front end of model={model}" in line
    assert f"use features={own}" in line and "\n" not in line


def test_a_features_value_the_front_end_does_not_use_is_named() -> None:
    with pytest.raises(ConfigError, match=r"features.fmax=8000.0 vs 14000.0"):
        validate(composed("model=panns_cnn10", "features.fmax=8000.0"))
    validate(composed("model=panns_cnn10", "model.widths=[4,4,8,8]"))  # its own front end passes


@pytest.mark.parametrize(
    ("model", "dataset", "says"),
    [
        ("panns_cnn10", "demo1s", "features=panns64 takes 1001 frames, but the dataset's clips last 1 s"),
        ("vggish_asc", "demo1s", "features=vggish64 takes 997 frames, but the dataset's clips last 1 s"),
        (
            "efficientat_mn04",
            "demo1s",
            "features=efficientat128 takes 1000 frames, but the dataset's clips last 1 s",
        ),
        ("dcase2024", "demo", "features=dcase2024 keeps 65 frames of the 641 a 10 s clip gives"),
    ],
)
def test_a_zoo_front_end_is_checked_against_the_clip_length_at_planning(
    tmp_path: Path, model: str, dataset: str, says: str
) -> None:
    """Each network's own front end against the dataset's clip length, as today's front end: one line, before
    anything is built."""
    with pytest.raises(ConfigError, match=re.escape(says)) as err:
        _planned(tmp_path, f"model={model}", f"dataset={dataset}")
    assert "\n" not in str(err.value) and not (tmp_path / "store").exists()


def test_experiment_dcase2025_plans_with_its_default_network(tmp_path: Path) -> None:
    """experiment=dcase2025 prunes the DCASE 2024/2025 network (model=dcase2024) by default: every run of it
    passes the planning checks (no criterion undefined on its coupled residual groups). The real TAU 2022 plan
    needs ~66 GiB (conftest's ``plenty_of_host_disk`` gives it room)."""
    cfg = _planned(tmp_path, "experiment=dcase2025")
    assert cfg["model"]["name"] == "dcase2024"
