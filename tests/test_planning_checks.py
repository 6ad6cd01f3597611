"""Everything that can be known from the config and the files a user names is refused while planning, before
anything is built, with one line naming the key, file or value (issue 16: each of these failed after hours)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from config_fixtures import composed
from keras_fixtures import keras_layers, write_keras_h5

from asc.core.errors import ConfigError, InputError
from asc.nets.model import build_model
from asc.pipeline.plan import check_plan, make_plan
from asc.pipeline.validate import validate


def planned(*overrides: str, tmp: Path) -> dict[str, Any]:
    cfg = composed(
        f"paths.data={tmp}/data", f"paths.store={tmp}/store", f"paths.results={tmp}/results", *overrides
    )
    validate(cfg)
    check_plan(make_plan(cfg), cfg, upto="report")
    return cfg


def nothing_built(tmp: Path) -> bool:
    return not any((tmp / name).exists() for name in ("data", "store", "results"))


def three_class_keras(path: Path) -> Path:
    model = build_model({"n_classes": 3})
    return write_keras_h5(path, keras_layers(model))


def test_a_given_model_with_other_classes_is_refused_naming_both_values(tmp_path: Path) -> None:
    h5 = three_class_keras(tmp_path / "other_task.h5")
    with pytest.raises(
        InputError, match=r"train.init_from=.*other_task.h5 has 3 output classes.* 10 classes"
    ):
        planned(f"train.init_from={h5}", tmp=tmp_path)
    assert nothing_built(tmp_path)


def test_a_given_model_with_other_input_is_refused(tmp_path: Path) -> None:
    h5 = write_keras_h5(tmp_path / "short.h5", keras_layers(build_model({"input_shape": [40, 1000]})))
    with pytest.raises(
        InputError, match=r"40 mel bands x 1000 frames.*40 x 500 \(features.n_mels, features.frames\)"
    ):
        planned(f"train.init_from={h5}", tmp=tmp_path)


def test_an_unreadable_model_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "notes.h5"
    bad.write_text("not a model")
    with pytest.raises(InputError, match=r"train.init_from=.*notes.h5 cannot be read as a model"):
        planned(f"train.init_from={bad}", tmp=tmp_path)


def test_a_bare_state_dict_is_refused_naming_the_path_once(tmp_path: Path) -> None:
    import torch

    bare = tmp_path / "sd.pt"
    torch.save(build_model().state_dict(), bare)
    with pytest.raises(InputError, match="cannot be read as a model: it is not an asc checkpoint") as err:
        planned(f"train.init_from={bare}", tmp=tmp_path)
    assert str(err.value).count(str(bare)) == 1 and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kept", "why"),
    [
        (
            {"C1": [0, 1, 99], "C2": [0], "C3": [0]},
            r"kept.json \(entry C1\)=\[0, 1, 99\]: indices \[99\] are outside \[0, 16\)",
        ),
        ({"C1": [0, 0], "C2": [0], "C3": [0]}, r"\(entry C1\)=\[0, 0\]: it repeats \[0\]"),
        ({"C1": [], "C2": [0], "C3": [0]}, "empty"),
        ({"C2": [0], "C3": [0]}, "no kept indices for layer C1"),
    ],
)
def test_kept_indices_are_checked_against_the_widths(tmp_path: Path, kept: dict, why: str) -> None:
    path = tmp_path / "kept.json"
    path.write_text(__import__("json").dumps(kept))
    with pytest.raises(InputError, match=why):
        planned("prune=given", f"prune.kept_file={path}", tmp=tmp_path)
    assert nothing_built(tmp_path)


def test_a_numpy_kept_file_never_fails_with_a_codec_error(tmp_path: Path) -> None:
    path = tmp_path / "C1.npy"
    np.save(path, np.array([0, 1, 2]))
    try:
        planned("prune=given", "prune.layers=[C1]", f"prune.kept_file={path}", tmp=tmp_path)
    except InputError as err:
        assert "codec" not in str(err) and "kept_file" in str(err)


def test_a_resampled_rate_names_the_hop_not_the_audio(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"features.hop_length=882 .*32000.* features.hop_length=640 features.win_length=1280",
    ):
        planned("dataset.sample_rate=32000", "features.resample=true", tmp=tmp_path)
    with pytest.raises(ConfigError, match=r"features.fmax=22050.*Nyquist.*features.fmax=16000"):
        planned(
            "dataset.sample_rate=32000",
            "features.resample=true",
            "features.hop_length=640",
            "features.win_length=1280",
            tmp=tmp_path,
        )
    assert nothing_built(tmp_path)


def test_too_many_mel_bands_for_the_fft_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"features.n_mels=256 leaves .* mel band\(s\) without an FFT bin"):
        planned(
            "features.n_mels=256",
            "features.n_fft=512",
            "features.win_length=512",
            "model.input_shape=[256,500]",
            tmp=tmp_path,
        )


def test_features_the_model_cannot_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"model=dcase21 takes input of 64 mel bands x 500 frames.*40 x 500"
    ):
        planned("model.input_shape=[64,500]", tmp=tmp_path)


def test_a_front_end_that_drops_most_of_each_clip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"features=logmel40x51 keeps 51 frames of the 501 a 10 s clip gives"
    ):
        planned("features=logmel40x51", "model=dcase22", tmp=tmp_path)


def test_a_fraction_too_small_for_a_stratum_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"fraction 0.01 leaves the smallest stratum") as err:
        planned(
            "prune=cosine",
            "runs=[{criteria:[cosine],fractions:[1.0]},{criteria:[cosine],fractions:[0.01,1.0],repeats:1}]",
            tmp=tmp_path,
        )
    assert re.search(r"; set runs\[1\]\.fractions to fractions >= [\d.]+ on this dataset", str(err.value))
    assert nothing_built(tmp_path)


def test_runtime_values_name_their_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^runtime.num_threads=-1"):
        planned("runtime.num_threads=-1", tmp=tmp_path)
    with pytest.raises(
        ConfigError, match=r"^runtime.figures.formats=\['png', 'png'\] is not valid: .*png, pdf, svg"
    ):
        planned("runtime.figures.formats=[png,png]", tmp=tmp_path)
    with pytest.raises(ConfigError, match=r"^runtime.figures.dpi=0 is not valid: expected a whole number"):
        planned("runtime.figures.dpi=0", tmp=tmp_path)
    # other wrong values of the same keys: nested, not a node, a typo; each named in one line
    with pytest.raises(ConfigError, match=r"^runtime.figures.formats=\[\['png'\]\] is not valid"):
        planned("runtime.figures.formats=[[png]]", tmp=tmp_path)
    with pytest.raises(ConfigError, match=r"^runtime.figures='png' is not valid: expected a node"):
        planned("runtime.figures=png", tmp=tmp_path)
    with pytest.raises(
        ConfigError, match=r"^runtime.figures.format is not a key .*did you mean runtime.figures.formats"
    ):
        planned("+runtime.figures.format=[png]", tmp=tmp_path)
    with pytest.raises(ConfigError, match=r"^runtime.latency='png' is not valid: expected a node"):
        planned("runtime.latency=png", tmp=tmp_path)
    planned("runtime.figures.dpi=1e2", tmp=tmp_path)  # not keyed: a whole number in float notation is fine
    assert nothing_built(tmp_path)


def test_a_full_disk_is_refused_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    from asc.core.disk import DiskSpaceError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 1 << 40, 1 << 20))
    with pytest.raises(DiskSpaceError, match="features"):
        planned(tmp=tmp_path)
    assert nothing_built(tmp_path)


@pytest.mark.slow
def test_cli_refuses_a_bad_kept_file_and_a_wrong_model_in_one_line(run_asc, tmp_path: Path) -> None:
    kept = tmp_path / "kept.json"
    kept.write_text('{"C1": [0, 1, 99], "C2": [0], "C3": [0]}')
    h5 = three_class_keras(tmp_path / "other_task.h5")
    paths = [
        f"paths.data={tmp_path}/data",
        f"paths.store={tmp_path}/store",
        f"paths.results={tmp_path}/results",
    ]
    for args in (["prune=given", f"prune.kept_file={kept}"], [f"train.init_from={h5}"]):
        result = run_asc(*args, *paths, f"hydra.run.dir={tmp_path}/run", timeout=120)
        assert result.returncode == 1, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("asc: error:")]
        assert len(errors) == 1, result.output
        assert ("(entry C1)=[0, 1, 99]" in errors[0]) or ("3 output classes" in errors[0]), errors[0]
        assert nothing_built(tmp_path), result.output


def test_a_dataset_config_of_ones_own_is_told_how_to_choose_a_recipe(tmp_path: Path) -> None:
    import shutil

    from config_fixtures import CONF
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    (tmp_path / "dataset").mkdir()
    shutil.copy(CONF / "dataset" / "tau2020mobile.yaml", tmp_path / "dataset" / "mine.yaml")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "dataset=mine"]
        )
        chosen = compose(
            config_name="config",
            overrides=[
                f"hydra.searchpath=[file://{tmp_path}]",
                "dataset=mine",
                "train=baseline",
                "finetune=default",
            ],
        )
    with pytest.raises(
        ConfigError,
        match=r"^the dataset config \(name: tau2020mobile\) has no training recipe .*train=baseline finetune=default",
    ):
        validate(OmegaConf.to_container(cfg, resolve=True))
    validate(OmegaConf.to_container(chosen, resolve=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset.sample_rate=44100.5"], r"^dataset.sample_rate=44100.5 is not valid: expected an integer"),
        (["features.resample=maybe"], r"^features.resample='maybe' is not valid: expected true or false"),
        (["features.hop_length=882.5"], r"^features.hop_length=882.5 is not valid"),
        (["runtime.fuse=maybe"], r"^runtime.fuse='maybe'"),
        (
            ["runs.0.fractions=0.5"],
            r"^runs\[0\].fractions=0.5 is not valid: expected a list, e.g. fractions=\[0.5\]",
        ),
        (
            ["runs.0.layer_sets=[[C1,C1]]"],
            r"^runs\[0\].layer_sets=\['C1', 'C1'\] is not valid: expected lists of distinct",
        ),
        (["dataset.cities=[]"], r"^dataset.cities=\[\] is not valid"),
        (["dataset.train_devices=[a,zz]"], r"^dataset.train_devices=\['a', 'zz'\] is not valid"),
        (
            ["runtime.latency.backends=cpu"],
            r"runtime.latency.backends='cpu' is not valid: expected a list, e.g.",
        ),
        (["runtime.compile=nonsense"], r"^runtime.compile='nonsense' is not valid"),
        (
            ["prune=cosine", "++prune.ratio=0.3"],
            r"^prune.ratio=0.3 is not valid: expected an option of criterion cosine",
        ),
        (
            ["prune=l1", "++prune.kept.C1=[0,1]"],
            r"^prune.kept=.* is not valid: expected an option of criterion l1",
        ),
        (
            ["+criteria.cosine.ratio=0.3"],
            r"^criteria.cosine.ratio=0.3 is not valid: expected an option of criterion cosine",
        ),
        (
            ["+criteria.l1.ratoi=0.3"],
            r"^criteria.l1.ratoi=0.3 is not valid: expected an option of criterion l1",
        ),
        (["train.split=split25"], r"^train.split=split25 trains on clips of all fold1_train"),
        (["prune=cosine", "prune.partner=foo"], r"^prune.partner='foo' is not valid: expected one of argmin"),
        (["prune=average", "prune.dense_mapping=foo"], r"^prune.dense_mapping='foo' is not valid"),
        (
            ["prune=nystrom", "prune.landmarks=0"],
            r"^prune.landmarks=0 is not valid: expected an int >= 1, auto",
        ),
        (["prune=nystrom", "prune.landmark_choice=foo"], r"^prune.landmark_choice='foo' is not valid"),
        (["prune=centrality", "prune.measure=foo"], r"^prune.measure='foo' is not valid"),
        (["prune=centrality", "prune.distance=foo"], r"^prune.distance='foo' is not valid"),
        (["prune=average", "prune.kept_partner=foo"], r"^prune.kept_partner='foo' is not valid"),
        (
            ["prune=l1", "prune.match=l2"],
            r"^prune.match='l2' is not valid: expected one of average, chebyshev",
        ),
        (["prune=random", "prune.reference=foo"], r"^prune.reference='foo' is not valid"),
        (["prune=random", "prune.seed=-1"], r"^prune.seed=-1 is not valid"),
        (["prune=cosine", "prune.round_decimals=-2"], r"^prune.round_decimals=-2 is not valid"),
        (["model.bn_eps=-1"], r"^model.bn_eps=-1 is not valid"),
        (["model.bn_momentum=5"], r"^model.bn_momentum=5 is not valid"),
        (["model.kernel=0"], r"^model.kernel=0 is not valid"),
        (["model.dense=-3"], r"^model.dense=-3 is not valid"),
        (["report_only=no"], r"^report_only='no' is not valid: expected true or false"),
        (["dry_run=maybe"], r"^dry_run='maybe' is not valid"),
        (["seed=-1"], r"^seed=-1 is not valid"),
        (
            ["train.epochs=4.0"],  # whole, in float notation: keyed as written, so it says how to write it
            r"^train.epochs=4.0 is not valid: expected an integer >= 1, written without a decimal point or "
            r"exponent: train.epochs=4$",
        ),
        (["train.seeds=[0,0]"], r"^train.seeds=\[0, 0\] is not valid: expected distinct seeds"),
        (
            ["runs=[{criteria:[cosine],fractions:[1.0]}]", "repeats=0"],
            r"^repeats=0 is not valid: expected an integer >= 1",
        ),
        (["runs=[{criteria:[cosine],fractions:[1.0],repeats:0}]"], r"^runs\[0\].repeats=0 is not valid"),
        (["paths.store=null"], r"^paths.store=None is not valid: expected a folder"),
        (["paths.results=''"], r"^paths.results='' is not valid: expected a folder"),
        (
            ["+train.epoch=3"],
            r"^train.epoch is not a key asc reads \(added with \+\?\): did you mean train.epochs\?",
        ),
        (["+foo=1"], r"^foo is not a key asc reads"),
        (
            ["prune=l1", "prune.per_layer_ratio=0.5"],
            r"^prune.per_layer_ratio=0.5 is not valid: expected a mapping",
        ),
        (["model.pools=[5,5,5]"], r"^model.pools\[0\]=5 is not valid"),
        (["model.pools=[[0,0],[1,1],[1,1]]"], r"^model.pools\[0\]=\[0, 0\] is not valid"),
        (["model.input_shape=foo"], r"^model.input_shape='foo' is not valid"),
        (["dataset=tau2020mobile", "dataset.download=maybe"], r"^dataset.download='maybe' is not valid"),
        (["dataset=tau2020mobile", "dataset.retries=-1"], r"^dataset.retries=-1 is not valid"),
        (["dataset=tau2020mobile", "dataset.base_url=notaurl"], r"^dataset.base_url='notaurl' is not valid"),
        (
            [
                "dataset=demo1s",
                "features=logmel40x51",
                "model=dcase22",
                "train.split=split25",
                "train.select=last",
            ],
            r"^train.split=split25 .* finetune.select_on=val would select on training clips",
        ),
        (
            ["train.select_on=test"],
            r"^train.select_on=test with train.select=best picks the epoch on the test",
        ),
        (["finetune.select_on=test"], r"^finetune.select_on=test .* protocol.allow_test_selection=true"),
        (["train.optimizer=sgd"], r"^train.optimizer='sgd' is not valid"),
        (
            ["finetune.weight_decay=0.01"],
            r"^finetune.weight_decay=0.01 is not valid: expected 0 with finetune",
        ),
        (["finetune.schedule=step"], r"^finetune.schedule='step' is not valid"),
        (["train.select=first"], r"^train.select='first' is not valid"),
        (["perdevice.warmup_steps=-1"], r"^perdevice.warmup_steps=-1 is not valid"),
        (["train.eval_precision=int8"], r"^train.eval_precision='int8' is not valid"),
        (["finetune.train_on=fold1_train"], r"^finetune.train_on=fold1_train trains on the val hold-out too"),
        (
            ["dataset=tau2020mobile", "dataset.root=null"],
            r"^dataset.root=None is not valid: expected a folder",
        ),
        (["dataset=tau2020mobile", "dataset.archives=null"], r"^dataset.archives=None is not valid"),
        (["prune=l1", "criteria.l1.per_layer_ratio=0.5"], r"e.g. '\+\+criteria.l1.per_layer_ratio.C1=0.5'"),
        (["dataset.train_locations=1"], r"^the index would hold no train clip: of fold1_train's 120 clips"),
    ],
)
def test_values_that_used_to_fail_late_or_silently(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        planned(*overrides, tmp=tmp_path)
    assert nothing_built(tmp_path)


def test_official_splits_need_a_set_of_one_second_clips(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"DCASE 2024's splits of 1-s clips, which dataset=demo \(10-s clips\)"
    ):
        planned("runs=[{criteria:[cosine],splits:[split5],repeats:1}]", tmp=tmp_path)


def test_a_one_second_variant_reports_under_its_own_name() -> None:
    from asc.report.rows import dataset_label

    assert dataset_label(composed("dataset=demo1s")["dataset"]) == "demo1s"
    assert dataset_label(composed()["dataset"]) == "demo"


def test_an_odd_clip_is_named_as_the_file_and_a_whole_folder_as_the_config(
    tiny_demo: Path, tmp_path: Path
) -> None:
    import shutil

    import pandas as pd
    import soundfile as sf

    mine = shutil.copytree(tiny_demo, tmp_path / "mine")
    folder = [f"dataset.root={mine}", "dataset.download=false", "dataset=tau2020mobile"]
    with pytest.raises(
        InputError, match=r"is 10 s \(so are the other clips checked\) but dataset.clip_seconds=5"
    ):
        planned(*folder, "dataset.clip_seconds=5", tmp=tmp_path / "a")
    first = mine / pd.read_csv(mine / "evaluation_setup" / "fold1_train.csv", sep="\t")["filename"].iloc[0]
    audio, rate = sf.read(first)
    sf.write(first, audio[: rate // 3], rate, subtype="PCM_24")  # truncated
    with pytest.raises(
        InputError, match=r"is 0.333.* s, unlike other clips .* the file is damaged or truncated"
    ):
        planned(*folder, tmp=tmp_path / "b")
    first.write_text("not audio, but long enough to pass for a file with a WAV header in it")
    with pytest.raises(InputError, match=r"cannot be read as audio .*replace it"):
        planned(*folder, tmp=tmp_path / "c")


def test_a_baseline_of_another_recipe_in_the_results_table_is_not_pooled(tmp_path: Path) -> None:
    from asc.report.results_check import ResultsTableError

    results = tmp_path / "results"
    results.mkdir()
    table = results / "results.csv"
    table.write_text("run_id,stage,dataset,seed,accuracy\ntrain/0123456789ab,baseline,demo,0,0.5\n")
    with pytest.raises(ResultsTableError, match=r"line 2: train baseline seed 0 of demo built otherwise"):
        planned("train.epochs=3", tmp=tmp_path)
    planned("train.epochs=3", "seed=1", tmp=tmp_path)  # another seed: a repeat, as train.seeds makes them
    ours = make_plan(composed(f"paths.results={results}", "train.epochs=3"))
    key = next(s.key for s in ours if s.stage == "train")
    table.write_text(f"run_id,stage,dataset,seed,accuracy\ntrain/{key},baseline,demo,0,0.5\n")
    planned("train.epochs=3", tmp=tmp_path)  # the same baseline: its own row
    table.write_text(  # a fine-tuning of another recipe, from the same baseline
        "run_id,stage,dataset,seed,baseline_seed,criterion,layers,fraction,repeat,accuracy\n"
        f"train/{key},baseline,demo,0,0,none,,,,0.5\n"
        "finetune/0123456789ab,finetune,demo,0,0,cosine,C1+C2+C3,1.0,0,0.5\n"
    )
    with pytest.raises(
        ResultsTableError, match=r"line 3: finetune cosine C1\+C2\+C3 1 #0 of demo built otherwise"
    ):
        planned("train.epochs=3", tmp=tmp_path)
    from asc.pipeline.plan import check_report_only

    table.write_text(
        "run_id,stage,dataset,seed,accuracy\n"
        "train/0123456789ab,baseline,demo,0,0.5\ntrain/ba9876543210,baseline,demo,0,0.6\n"
    )
    with pytest.raises(ResultsTableError, match=r"line 3: train/ba9876543210 and line 2 .* are the same run"):
        check_report_only(results)


def test_a_distilling_job_shares_the_results_table_of_a_hard_label_one(tmp_path: Path) -> None:
    """A KD fine-tuning's rows carry its teacher, which is part of the pooling key (asc.report.rows.pooling_key): its
    job may write beside the hard-label rows of the same criterion and fraction; a KD row of another setup is
    still refused."""
    from asc.report.results_check import ResultsTableError

    results = tmp_path / "results"
    results.mkdir()
    table = results / "results.csv"
    ours = make_plan(composed(f"paths.results={results}", "train.epochs=3"))
    key = next(s.key for s in ours if s.stage == "train")
    head = "run_id,stage,dataset,seed,baseline_seed,criterion,layers,fraction,repeat,teacher,accuracy\n"
    base = f"train/{key},baseline,demo,0,0,none,,,,,0.5\n"
    table.write_text(head + base + "finetune/0123456789ab,finetune,demo,0,0,cosine,C1+C2+C3,1.0,0,,0.5\n")
    planned("train.epochs=3", "finetune.teacher=baseline", tmp=tmp_path)
    table.write_text(
        head + base + "finetune/0123456789ab,finetune,demo,0,0,cosine,C1+C2+C3,1.0,0,baseline seed 0,0.5\n"
    )
    with pytest.raises(
        ResultsTableError, match=r"line 3: finetune cosine C1\+C2\+C3 1 #0 .*of demo built otherwise"
    ):
        planned("train.epochs=3", "finetune.teacher=baseline", tmp=tmp_path)


def test_another_network_shares_the_results_table(tmp_path: Path) -> None:
    """The network family is part of the pooling key (asc.report.rows.family_of_row): a job of another network may
    write beside a network's rows (the report keeps them apart, asc/report/networks.py); a row of the same family
    built otherwise, or one without a model_spec (it pools with any), is still refused, at planning and by
    report_only."""
    import json

    from asc.pipeline.plan import check_report_only
    from asc.report.results_check import ResultsTableError

    results = tmp_path / "results"
    results.mkdir()
    table = results / "results.csv"
    head = "run_id,stage,dataset,seed,accuracy,model_spec\n"

    def row(run_id: str, spec: dict | None) -> str:
        text = json.dumps(spec).replace('"', '""') if spec else ""
        return f'{run_id},baseline,demo,0,0.5,"{text}"\n'

    zoo = row("train/0123456789ab", {"name": "vggish_asc", "n_classes": 10})
    table.write_text(head + zoo)
    planned("train.epochs=3", tmp=tmp_path)  # the DCASE21 baseline beside VGGish_Net's: not a repeat of it
    ours = row("train/ba9876543210", {"widths": [16, 16, 32]})
    table.write_text(head + zoo + ours)
    check_report_only(results)
    with pytest.raises(ResultsTableError, match=r"line 3: train baseline seed 0 of demo built otherwise"):
        planned("train.epochs=3", tmp=tmp_path)  # the same family, another run id
    table.write_text(head + zoo + row("train/aaaaaaaaaaaa", None))
    with pytest.raises(ResultsTableError, match=r"line 3: train/aaaaaaaaaaaa and line 2 .* are the same run"):
        check_report_only(results)


def test_an_unusable_download_folder_and_an_empty_clip_are_named(tiny_demo: Path, tmp_path: Path) -> None:
    import shutil

    import pandas as pd

    a_file = tmp_path / "root.txt"
    a_file.write_text("")
    with pytest.raises(
        InputError, match=r"the dataset folder .*root.txt \(dataset.root\): .* is a file, not a folder"
    ):
        planned("dataset=tau2020mobile", f"dataset.root={a_file}", tmp=tmp_path / "a")
    with pytest.raises(InputError, match=r"dataset.archives=\['audio.1'\] lacks meta"):
        empty = tmp_path / "empty"
        planned(
            "dataset=tau2020mobile", f"dataset.root={empty}", "dataset.archives=[audio.1]", tmp=tmp_path / "a"
        )
    mine = shutil.copytree(tiny_demo, tmp_path / "mine")
    last = mine / pd.read_csv(mine / "evaluation_setup" / "fold1_evaluate.csv", sep="\t")["filename"].iloc[-2]
    last.write_bytes(b"")
    with pytest.raises(InputError, match=r"is 0 bytes, not a WAV file"):
        planned("dataset=tau2020mobile", f"dataset.root={mine}", "dataset.download=false", tmp=tmp_path / "b")


def test_an_unknown_recipe_is_named_not_an_interpolation_error(run_asc, tmp_path: Path) -> None:
    result = run_asc("train=foo", "dry_run=true", f"hydra.run.dir={tmp_path}", timeout=120)
    errors = [line for line in result.output.splitlines() if line.startswith("asc: error:")]
    assert result.returncode == 1 and len(errors) == 1
    assert errors[0].startswith(
        "asc: error: train=foo is not a recipe of conf/train/: choose one of audioset, baseline"
    )
