"""experiment=centrality_panns and experiment=epanns at planning: the steps they plan (here on the scene demo at
32 kHz, CNN14's front end; both run end to end on the tagging demo in tests/test_experiments.py) and a missing
PANNs checkpoint refused in one line."""

from __future__ import annotations

import pytest
from config_fixtures import composed

from asc.app.cli import run
from asc.core.errors import InputError

ON_DEMO = ["dataset=demo", "dataset.sample_rate=32000", "model.n_classes=10", "dry_run=true"]
BLOCKS_4_6 = "C7+C8+C9+C10+C11+C12"


def _paths(tmp_path) -> list[str]:
    return [f"paths.{k}={tmp_path / k}" for k in ("data", "store", "results")]


def test_centrality_panns_plans_three_ratios_on_blocks_4_to_6(tmp_path, capsys) -> None:
    cfg = composed("experiment=centrality_panns", *ON_DEMO, *_paths(tmp_path))
    assert cfg["model"]["name"] == "panns_cnn14" and cfg["features"]["name"] == "panns64"
    ratios = sorted(cfg["criteria"][c]["ratio"] for c in cfg["runs"][0]["criteria"])
    assert ratios == [0.25, 0.5, 0.75]
    assert {cfg["criteria"][c]["name"] for c in cfg["runs"][0]["criteria"]} == {"centrality"}
    run(cfg)
    out = capsys.readouterr().out
    prunes = [line for line in out.splitlines() if line.startswith("prune ")]
    assert len(prunes) == 3 and all(f"centrality {BLOCKS_4_6}" in line for line in prunes)
    assert len({line.split()[1] for line in prunes}) == 3  # three distinct artifacts, one per ratio
    assert sum(line.startswith("finetune ") for line in out.splitlines()) == 9  # x fractions 25/50/100 %


def test_epanns_plans_fifty_percent_of_blocks_4_to_6(tmp_path, capsys) -> None:
    cfg = composed("experiment=epanns", *ON_DEMO, *_paths(tmp_path))
    assert cfg["criteria"]["operator_norm"]["ratio"] == 0.5
    run(cfg)
    out = capsys.readouterr().out
    assert f"operator_norm {BLOCKS_4_6}" in out


@pytest.mark.parametrize("experiment", ["centrality_panns", "epanns"])
def test_missing_checkpoint_refused_in_one_line(experiment: str, tmp_path) -> None:
    cfg = composed(
        f"experiment={experiment}", *ON_DEMO, *_paths(tmp_path), f"train.init_from={tmp_path / 'Cnn14.pth'}"
    )
    with pytest.raises(InputError, match="train.init_from") as err:
        run(cfg)
    assert "\n" not in str(err.value)
