"""Every value a job is given either has an effect or is refused at planning, in one line naming it and what to
set instead (asc/pipeline/config_effects.py); asc's own configs pass unchanged (their keys are pinned in test_keys)."""

from __future__ import annotations

import pytest
from config_fixtures import composed

from asc.core.errors import ConfigError
from asc.pipeline.config_effects import check_effects
from asc.pipeline.validate import validate

SHADOWED = {
    # prune=<name> replaces the criteria of every runs block
    (
        "prune=l1",
        "criteria.l1.ratio=0.3",
    ): r"criteria.l1.ratio=0.3 has no effect: prune=l1 .* set prune.ratio=0.3",
    (
        "prune=cosine",
        "criteria.nystrom.landmarks=4",
    ): r"criteria.nystrom.landmarks=4 .* prune=cosine replaces",
    # a criterion no runs block names
    ("criteria.l2.ratio=0.3",): r"criteria.l2.ratio=0.3 has no effect: no runs block names l2",
    (
        "experiment=paper_fig3",
        "criteria.l1.match=nystrom",
    ): r"criteria.l1.match='nystrom' .* no runs block names l1",
    # options no criterion file holds (``+``): the schedule, channel blocks (issue 27 §3, §4)
    ("prune=l1", "+criteria.l1.schedule=3"): (
        r"criteria.l1.schedule=3 has no effect: prune=l1 replaces .* set \+prune.schedule=3 instead"
    ),
    (
        "prune=l1",
        "+criteria.l1.round_to_block=8",
    ): r"criteria.l1.round_to_block=8 .* \+prune.round_to_block=8",
    ("+criteria.l2.schedule=3",): r"no runs block names l2 .* select it: prune=l2 \+prune.schedule=3",
    # layers a block's layer_sets replace
    (
        "criteria.cosine.layers=[C1]",
    ): r"criteria.cosine.layers=\['C1'\] has no effect: runs\[0\].layer_sets gives",
}

IGNORED_IN_MODE = {
    (
        "prune=l1",
        "prune.ratio=0.3",
        "prune.match=nystrom",
    ): r"prune.match='nystrom' has no effect: prune.ratio=0.3",
    (
        "prune=l2",
        "prune.layers=[C1]",
        "+prune.per_layer_ratio.C1=0.5",
        "prune.match=average",
    ): r"prune.match=",
    ("prune=centrality", "prune.layers=[C1]", "+prune.per_layer_ratio.C1=0.25", "prune.ratio=0.3"): (
        r"prune.ratio=0.3 has no effect: prune.per_layer_ratio gives every pruned layer"
    ),
    ("prune=centrality", "prune.edge_length=similarity"): r"prune.edge_length='similarity' .*measure=degree",
    ("prune=nystrom", "prune.seed=3"): r"prune.seed=3 has no effect: prune.landmark_choice=first",
    ("prune=centrality", "prune.dense_mapping=authors"): r"prune.dense_mapping='authors' .* leaves C3 whole",
    ("prune=random", "prune.dense_mapping=authors"): r"random re-initialises",
    (
        "prune=nystrom",
        "prune.layers=[C1]",
        "prune.landmarks={C1:4,C2:9}",
    ): r"prune.landmarks.C2=9 .* C2 is not pruned",
    (
        "prune=given",
        "prune.layers=[C1]",
        "prune.kept.C1=[0,1]",
        "prune.kept.C2=[0]",
    ): r"prune.kept.C2=\[0\] .* not",
    (
        "experiment=paper_fig3",
        "criteria.cosine.layers=[C1]",
        "runs.0.layer_sets=null",
        "criteria.cosine.dense_mapping=authors",
    ): (r"criteria.cosine.dense_mapping='authors' has no effect"),
}

OTHER_CONFIGS_KEYS = {
    (
        "+dataset.content_hash=true",
    ): r"dataset.content_hash=True has no effect: only dataset=tau2020mobile read it",
    (
        "+dataset.retries=3",
    ): r"dataset.retries=3 has no effect: only dataset=.*tau2020mobile, tau2022mobile.* read it, not dataset=demo",
    (
        "dataset=tau2020mobile",
        "+dataset.cities=[lisbon]",
    ): r"dataset.cities=\['lisbon'\] .* not dataset=tau2020mobile",
    # FSD50K's hold-out is its own val split: no draw, so no amount or seed (they would key the index only)
    ("dataset=fsd50k", "+dataset.validation.amount=0.2"): (
        r"dataset.validation.amount=0.2 has no effect: only dataset=.*esc50.* not dataset=fsd50k "
        r"\(dataset.validation.method=official takes the set's own split, no draw\); drop it"
    ),
    ("dataset=fsd50k", "+dataset.validation.seed=1"): r"dataset.validation.seed=1 has no effect: .*fsd50k",
}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [*SHADOWED.items(), *IGNORED_IN_MODE.items(), *OTHER_CONFIGS_KEYS.items()],
    ids=lambda x: " ".join(x) if isinstance(x, tuple) else "",
)
def test_a_value_with_no_effect_is_refused_in_one_line(overrides, message):
    cfg = composed(*overrides)
    validate(cfg)  # a valid value: only its lack of effect is wrong
    with pytest.raises(ConfigError, match=message) as err:
        check_effects(cfg)
    assert "\n" not in str(err.value) and ("instead" in str(err.value) or ";" in str(err.value))


UNUSED_OPTIONS = {
    (
        "+criteria.l1.partner=argmin",
    ): r"^criteria.l1.partner='argmin' .* criterion l1 has no such option: drop it",
    ("+criteria.random.landmarks=4",): r"^criteria.random.landmarks=4 .* criterion random has no such option",
    ("+criteria.l1.depthwise=true",): r"^criteria.l1.depthwise=True has no meaning here: the DCASE family",
    ("+criteria.cosine.step_epochs=2",): r"^criteria.cosine.step_epochs=2 has no effect with .*schedule=1",
}


@pytest.mark.parametrize(("overrides", "message"), UNUSED_OPTIONS.items(), ids=[o[0] for o in UNUSED_OPTIONS])
def test_an_option_the_criterion_does_not_use_is_refused_in_one_line(overrides, message):
    """A ``+criteria.X.<option>`` the criterion never reads (or, like ``depthwise``, that has no meaning on the
    DCASE family's hand surgery) would change the key and nothing else (asc/prune/options.py)."""
    from asc.pipeline.plan import make_plan

    cfg = composed(*overrides)
    with pytest.raises(ConfigError, match=message) as err:
        validate(cfg)
        check_effects(cfg)
        make_plan(cfg)  # the schedule options: checked where the plan is made (asc/prune/schedule.py)
    assert "\n" not in str(err.value)


def test_the_options_a_refusal_lists_are_those_of_the_networks_family():
    """``depthwise`` is refused on the DCASE family (its hand surgery), so the list of l1's options leaves it out
    there; a network pruned by dependency-graph surgery takes it, and its list names it."""
    for overrides, listed in (((), False), (("dataset=demo1s", "model=dcase2024"), True)):
        with pytest.raises(ConfigError, match=r"criterion l1 has no such option") as err:
            validate(composed(*overrides, "+criteria.l1.partner=argmin"))
        options = str(err.value).split("an option of criterion l1 (")[1].split(")")[0]
        assert ("depthwise" in options) is listed and "ratio" in options, options


ACCEPTED = [
    (),
    ("experiment=paper",),
    (
        "protocol=authors",
        "experiment=paper_fig3",
    ),  # authors' dense mapping on centrality: the protocol's default
    ("protocol=authors", "prune=nystrom", "prune.layers=[C1]"),  # the authors' per-layer landmarks, as given
    ("prune=l1", "prune.ratio=0.3"),  # match=cosine left as the file has it
    ("prune=l1", "prune.ratio=0.3", "prune.match=null"),
    ("prune=centrality", "prune.measure=betweenness", "prune.edge_length=similarity"),
    ("prune=nystrom", "prune.landmark_choice=random", "prune.seed=3"),
    ("prune=authors_kept", "prune.layers=[C1]"),  # the file's kept lists of the other layers
    ("criteria.l1.ratio=0.3",),  # experiment=demo runs l1
    ("+criteria.l1.schedule=3",),
    ("prune=l1", "+criteria.l1.schedule=1"),  # one-shot: the value that does nothing
    ("experiment=paper", "criteria.centrality.measure=betweenness"),
    ("dataset=tau2020mobile", "dataset.content_hash=true"),
    ("++dataset.label=mine",),
]


@pytest.mark.parametrize("overrides", ACCEPTED, ids=lambda o: " ".join(o) or "default")
def test_values_with_an_effect_pass(overrides):
    cfg = composed(*overrides)
    validate(cfg)
    check_effects(cfg)


def test_the_cli_refuses_before_anything_is_written(tmp_path, run_asc):
    out = run_asc(
        "prune=l1",
        "criteria.l1.ratio=0.3",
        f"paths.data={tmp_path / 'data'}",
        f"paths.store={tmp_path / 'store'}",
        f"paths.results={tmp_path / 'results'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        timeout=120,
    )
    assert out.returncode == 1
    assert "asc: error: criteria.l1.ratio=0.3 has no effect" in out.output and "prune.ratio=0.3" in out.output
    assert not any((tmp_path / d).exists() for d in ("data", "store", "results"))


@pytest.mark.parametrize(
    "forms",
    [
        [("prune=l1", "prune.ratio=0.3"), ("prune=l1", "prune.ratio=0.3", "prune.match=null")],
        [
            ("prune=l2", "prune.layers=[C1]", "+prune.per_layer_ratio.C1=0.5"),
            ("prune=l2", "prune.layers=[C1]", "+prune.per_layer_ratio.C1=0.5", "prune.match=null"),
        ],
        [
            ("prune=centrality", "prune.layers=[C1]", "+prune.per_layer_ratio.C1=0.25"),
            ("prune=centrality", "prune.layers=[C1]", "+prune.per_layer_ratio.C1=0.25", "prune.ratio=null"),
        ],
    ],
)
def test_an_ignored_option_does_not_enter_the_key(forms):
    from asc.pipeline.plan import make_plan

    keys = [{s.key for s in make_plan(composed(*form)) if s.stage == "prune"} for form in forms]
    assert keys[0] == keys[1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("experiment=paper_table1", "finetune.epochs=3"),
            r"finetune.epochs=3 has no effect: no runs block fine-tunes",
        ),
        (("runs.0.fractions=[]", "finetune.select_on=test"), r"finetune.select_on=test has no effect"),
        (
            ("train.init_from={m}", "model.widths=[8,8,16]"),
            r"model.widths=\[8,8,16\] has no effect: the baseline is",
        ),
        (("train.init_from={m}", "model=dcase22"), r"model=dcase22 has no effect"),
        (("train.init_from={m}", "train.epochs=5"), r"train.epochs=5 has no effect"),
        # keyed options that others make moot: a given baseline is scored in fp32; select=last selects nothing
        (
            ("train.init_from={m}", "train.eval_precision=fp16"),
            r"train.eval_precision=fp16 has no effect: the baseline is train.init_from=.*m.pt, scored in fp32 as "
            r"given; drop it, or set finetune.eval_precision=fp16",
        ),
        (
            ("train=dcase2024", "train.select_after=3"),
            r"train.select_after=3 has no effect: train.select=last",
        ),
        (
            ("finetune.select=last", "finetune.select_after=2"),
            r"finetune.select_after=2 has no effect: finetune.select=last keeps the last epoch",
        ),
        (
            ("experiment=dcase_benchmark_demo", "perdevice.select_after=2"),
            r"perdevice.select_after=2 has no effect: the per-device models always",
        ),
        (
            ("perdevice.epochs=2",),
            r"perdevice.epochs=2 has no effect: no runs block trains per-device models",
        ),
    ],
)
def test_overrides_of_what_the_job_does_not_do_are_refused(tmp_path, overrides, message):
    from model_fixtures import randomised_model

    from asc.nets.model import save_model

    save_model(randomised_model(), tmp_path / "m.pt")
    given = [o.format(m=tmp_path / "m.pt") for o in overrides]
    cfg = composed(*given)
    if "runs.0.fractions=[]" in given:
        cfg["runs"] = [dict(b, fractions=[]) for b in cfg["runs"]]
    with pytest.raises(ConfigError, match=message) as err:
        check_effects(cfg, overrides=given)
    assert "\n" not in str(err.value)
    check_effects(composed(), overrides=["finetune.epochs=3", "model.widths=[8,8,16]"])  # both have an effect
    check_effects(composed(), overrides=["train.select_after=3", "finetune.select_after=2"])  # select=best
    given = ["experiment=dcase_benchmark_demo", "perdevice.epochs=2"]
    check_effects(composed(*given), overrides=given)  # its second block trains per-device models
    given = ["train=dcase2024", "train.select_after=0"]
    check_effects(composed(*given), overrides=given)  # its file's own value: it tells no two jobs apart
    given = [
        f"train.init_from={tmp_path / 'm.pt'}",
        "finetune.eval_precision=fp16",
        "train.eval_precision=fp32",
    ]
    check_effects(
        composed(*given), overrides=given
    )  # the fine-tuned networks are scored so; fp32: the file's
