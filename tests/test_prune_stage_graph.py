"""The prune stage's dispatch by family: the DCASE family keeps its hand surgery; any other zoo network is
checked at planning against its traced dependency graph (layers, ratios, the criterion on coupled groups)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("torch_pruning")


from config_fixtures import TINY_DEMO_DATA  # noqa: E402

from asc.core.errors import ConfigError  # noqa: E402
from asc.pipeline.stages import prune as stage  # noqa: E402
from asc.pipeline.step import make_step  # noqa: E402

BASELINE = make_step("train", "baseline seed 0", {"seed": 0})


def _cfg(tmp_path, model):
    return {"model": model, "features": {"n_mels": 64, "frames": 64}, "paths": {"store": str(tmp_path)}}


def _steps(*configs):
    return [make_step("prune", stage.label_of(c), c, (BASELINE,)) for c in configs]


RESNET = {"name": "panns_resnet38", "widths": [4, 4, 8, 8], "blocks": [1, 2, 1, 1], "head": 16}


def test_dcase_family_keeps_hand_surgery():
    pytest.importorskip("asc.nets")
    assert stage.graph_family({"model": {"name": "dcase21"}}) is None
    assert stage.graph_family({"model": {"name": "panns_cnn14"}}).name == "panns_cnn14"


def test_graph_family_configs_checked_on_the_network(tmp_path):
    pytest.importorskip("asc.nets")
    cfg = _cfg(tmp_path, RESNET)
    ok = {"name": "l1", "layers": ["C7", "conv_block_after1.*"], "ratio": 0.5, "dense_mapping": "correct"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        needs = stage.check(_steps(ok), cfg)
        assert needs and needs[0][1].bytes > 0
        with pytest.raises(
            ConfigError, match="l1 C99 ratio=0.5: prune.layers entry 'C99' matches no prunable conv"
        ):
            stage.check(_steps(dict(ok, layers=["C99"])), cfg)
        with pytest.raises(ConfigError, match="prune=average is not defined on coupled group C2\\+C4"):
            stage.check(_steps({"name": "average", "layers": ["C2"]}), cfg)
        with pytest.raises(ConfigError, match="dense_mapping=authors is the DCASE family's"):
            stage.check(_steps(dict(ok, dense_mapping="authors")), cfg)


def test_depthwise_option_is_accepted_on_a_graph_network_and_refused_on_the_dcase_family():
    from config_fixtures import composed

    from asc.pipeline.validate import validate

    validate(composed("model=dcase2024", "prune=l1", "prune.ratio=0.5", "++prune.depthwise=true"))
    with pytest.raises(
        ConfigError, match=r"^prune.depthwise=True has no meaning here: the DCASE family"
    ) as err:
        validate(composed("prune=l1", "prune.ratio=0.5", "++prune.depthwise=true"))
    assert "\n" not in str(err.value)


def test_given_on_a_graph_network_keys_every_entry():
    """A coupled group's other member (or a glob) can select a given entry that prune.layers does not name."""
    cfg = {"name": "given", "layers": ["C1"], "kept": {"C1": [0, 1], "C3": [0, 2]}}
    dcase, graph = stage.prune_step(cfg, BASELINE), stage.prune_step(cfg, BASELINE, graph=True)
    assert dcase.config["kept"] == {"C1": [0, 1]}  # the DCASE family's key, unchanged
    assert graph.config["kept"] == {"C1": [0, 1], "C3": [0, 2]}
    edited = stage.prune_step(dict(cfg, kept={"C1": [0, 1], "C3": [1, 2]}), BASELINE, graph=True)
    assert edited.key != graph.key


@pytest.mark.slow
def test_a_residual_zoo_network_is_pruned_end_to_end(run_asc, tmp_path, shared_data):
    """``asc model=panns_resnet38 prune=l1 stage=prune`` on the tiny demo: the pruned checkpoint replays its
    history; average on a coupled group is refused at planning, naming the group."""
    import json

    import asc
    from asc.nets.checkpoint import load

    args = [
        "model=panns_resnet38",
        "model.widths=[4,4,8,8]",
        "model.blocks=[1,1,1,1]",
        "model.head=16",
        *TINY_DEMO_DATA,
        "train.epochs=1",
        "train.select_after=0",
        "stage=prune",
        f"paths.data={shared_data}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
    ]
    # the pruning in this process (asc.run, the CLI's job: no interpreter to start); the refusal through the CLI
    # process, whose exit code and message are under test
    asc.run([*args, "prune=l1", "prune.ratio=0.5", "prune.layers=[C2,conv_block_after1.*]"])
    (folder,) = (tmp_path / "store" / "prune").glob("*/")
    model, extra = load(folder / "model.pt")
    info = json.loads((folder / "info.json").read_text())
    assert extra["history"] == [list(h) for h in info["history"]] and info["groups"]
    refused = run_asc(
        *args, f"hydra.run.dir={tmp_path / 'run'}", "prune=average", "prune.layers=[C2]", timeout=600
    )
    assert refused.returncode != 0 and "not defined on coupled group C2+C4" in refused.output
