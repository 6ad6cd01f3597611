"""Multi-label tagging: PANNs' metrics against scikit-learn, the task declarations, the BCE loss, class-balanced
sampling, and training a sigmoid head through the same fused loop (fused = one by one, selection on mAP)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from asc.core.errors import ConfigError
from asc.data.tasks import SCENES, TAGGING, task_of, task_of_rows
from asc.nets.model import build_model
from asc.training.losses import per_model_loss
from asc.training.sampling import balanced_order, epoch_order
from asc.training.tagging_metrics import d_prime, mean_average_precision, tagging_metrics
from asc.training.train import Recipe, Run, train_many

PROBS = np.array(
    [
        [0.9, 0.1, 0.4, 0.3],
        [0.8, 0.7, 0.2, 0.6],
        [0.1, 0.8, 0.9, 0.2],
        [0.4, 0.3, 0.7, 0.9],
        [0.6, 0.2, 0.1, 0.5],
        [0.2, 0.6, 0.3, 0.1],
    ]
)
TARGETS = np.array(
    [[1, 0, 0, 0], [0, 1, 0, 1], [1, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 1]], dtype=bool
)


def test_metrics_equal_scikit_learn_and_panns_formula() -> None:
    got = tagging_metrics(PROBS, TARGETS, ["a", "b", "c", "d"])
    # PANNs (audioset_tagging_cnn/pytorch/main.py): np.mean(average_precision_score(target, output, average=None))
    panns_map = np.mean(average_precision_score(TARGETS, PROBS, average=None))
    assert got["mAP"] == pytest.approx(panns_map, abs=1e-12)
    assert got["mAP"] == pytest.approx(average_precision_score(TARGETS, PROBS, average="macro"), abs=1e-12)
    assert got["auc"] == pytest.approx(roc_auc_score(TARGETS, PROBS, average="macro"), abs=1e-12)
    assert got["d_prime"] == pytest.approx(stats.norm.ppf(got["auc"]) * math.sqrt(2), abs=1e-12)
    assert got["n_classes_scored"] == 4 and got["n"] == 6
    assert got["per_class"]["c"]["positives"] == 2
    assert mean_average_precision(PROBS, TARGETS) == pytest.approx(panns_map, abs=1e-12)


def test_average_precision_by_hand() -> None:
    # class a: ranked 0.9 (+), 0.8 (-), 0.6 (+), 0.4 (-), 0.2 (-), 0.1 (+): precision at hits 1, 2/3, 3/6
    assert tagging_metrics(PROBS, TARGETS)["per_class"]["0"]["ap"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    assert d_prime(0.5) == 0.0


def test_classes_without_positives_or_negatives_are_left_out_of_the_means() -> None:
    targets = TARGETS.copy()
    targets[:, 3] = False  # no positive: AP undefined
    probs = np.c_[PROBS, PROBS[:, :1]]
    targets = np.c_[targets, np.ones((6, 1), bool)]  # no negative: AUC undefined
    got = tagging_metrics(probs, targets)
    assert got["n_classes_scored"] == 3
    assert got["mAP"] == pytest.approx(
        np.mean(average_precision_score(TARGETS[:, :3], PROBS[:, :3], average=None))
    )
    assert math.isnan(got["per_class"]["3"]["ap"])
    assert math.isnan(mean_average_precision(PROBS, np.zeros_like(TARGETS)))


def test_metrics_refuse_bad_shapes_and_non_binary_targets() -> None:
    with pytest.raises(ValueError, match="clips, classes"):
        tagging_metrics(PROBS, TARGETS[:, :2])
    with pytest.raises(ValueError, match="0/1"):
        tagging_metrics(PROBS, TARGETS * 2)


def test_task_is_a_dataset_value_declared_once() -> None:
    assert task_of({}) is SCENES and task_of({"task": "tagging"}) is TAGGING
    with pytest.raises(ConfigError, match="dataset.task='tags'.*scenes, tagging"):
        task_of({"task": "tags"})
    import pandas as pd

    assert task_of_rows(pd.DataFrame({"accuracy": [0.5]})) is SCENES
    assert task_of_rows(pd.DataFrame({"accuracy": [np.nan], "mAP": [0.3]})) is TAGGING


def test_bce_loss_is_panns_clip_bce_per_model() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, 7, generator=g)
    y = (torch.rand(5, 3, 7, generator=g) > 0.7).float()
    got = per_model_loss(logits, y, multi_label=True)
    want = [F.binary_cross_entropy(torch.sigmoid(logits[:, m]), y[:, m]) for m in range(3)]
    assert torch.allclose(got, torch.stack(want), atol=1e-6)
    labels = torch.randint(0, 7, (5, 3), generator=g)
    ce = per_model_loss(logits, labels, multi_label=False)
    assert torch.allclose(ce, torch.stack([F.cross_entropy(logits[:, m], labels[:, m]) for m in range(3)]))


def test_balanced_sampling_visits_every_class_equally() -> None:
    labels = torch.tensor([0] * 40 + [1] * 4 + [2] * 2)  # long tail
    g = torch.Generator().manual_seed(0)
    order = balanced_order(labels, torch.arange(46), g)
    assert len(order) == 46
    counts = torch.bincount(labels[order], minlength=3)
    assert counts.max() - counts.min() <= 1  # round-robin over classes
    tags = torch.zeros(30, 5)
    tags[:20, 0] = 1
    tags[20:, 1:] = 1
    order = balanced_order(tags, torch.arange(30), torch.Generator().manual_seed(1))
    assert (tags[order, 0] > 0).sum() < 20  # the frequent tag is no longer 2/3 of the draws
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    sub = torch.arange(10, 30)
    assert torch.equal(epoch_order("uniform", tags, sub, g1), sub[torch.randperm(20, generator=g2)])
    with pytest.raises(ValueError, match="sampling='x'"):
        epoch_order("x", tags, sub, g1)


def _tag_data(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, classes, generator=g) > 0.6).float()
    x = torch.randn(n, 40, 50, generator=g) * 0.5
    x[:, : classes * 4] += y.repeat_interleave(4, 1)[:, :, None] * 2  # each tag lights its own mel bands
    return x, y


@pytest.mark.parametrize("sampling", ["uniform", "balanced"])
def test_tagging_trains_through_the_fused_loop(tmp_path: Path, sampling: str) -> None:
    spec = {"widths": [4, 4, 8], "input_shape": [40, 50], "n_classes": 6, "pools": [None, [5, 5], [4, 5]]}
    train, val = _tag_data(48, 6, 0), _tag_data(24, 6, 1)
    recipe = Recipe(epochs=3, batch_size=8, lr=3e-3, adam_eps=1e-7, select_after=0, sampling=sampling)

    def runs(tag: str) -> list[Run]:
        out = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            out.append(Run(build_model(spec), torch.arange(40), seed, tmp_path / f"{tag}{seed}", recipe))
        return out

    fused, alone = runs("f"), runs("a")
    hf = train_many(fused, train, val, progress=False, task=TAGGING)
    ha = train_many(alone, train, val, progress=False, task=TAGGING, fuse=False)
    for a, b, h1, h2 in zip(fused, alone, hf, ha, strict=True):
        assert "select_mAP" in h1["history"][0] and "select_acc" not in h1["history"][0]
        assert h1["best_epoch"] == h2["best_epoch"]
        assert h1["best_select_acc"] == pytest.approx(h2["best_select_acc"], abs=1e-5)
        for k, v in a.model.state_dict().items():
            assert torch.allclose(v, b.model.state_dict()[k], atol=1e-5), k
    best = max(h["select_mAP"] for h in hf[0]["history"])
    assert hf[0]["best_select_acc"] == best
    assert best > 0.5  # above a random ranking's mAP (≈ the positive rate, 0.4)


def _tagging_results():
    from results_fixtures import make_results

    df = make_results(dataset="tagdemo", repeats=3)
    df["mAP"] = df["accuracy"] * 0.8
    df["auc"] = 0.5 + df["accuracy"]
    df["d_prime"] = stats.norm.ppf(df["auc"]) * math.sqrt(2)
    df[["accuracy", "class_avg_accuracy", "log_loss"]] = np.nan
    return df


def test_statistics_and_tables_work_on_map_as_on_accuracy() -> None:
    from asc.report import compare, tables, tables_comparison

    df = _tagging_results()
    comp = compare.comparisons(df)
    assert set(comp["metric"]) == {"mAP", "auc", "d_prime"}
    pick = (comp["metric"] == "mAP") & (comp["a"] == "cosine") & (comp["b"] == "l1") & comp["finetuned"]
    row = comp[pick].iloc[0]
    mine = df[
        (df["stage"] == "finetune") & (df["layers"] == row["layers"]) & (df["fraction"] == row["fraction"])
    ]
    diff = (
        mine[mine["criterion"] == "cosine"]["mAP"].to_numpy()
        - mine[mine["criterion"] == "l1"]["mAP"].to_numpy()
    )
    assert row["mean_diff"] == pytest.approx(100 * diff.mean())  # in points, as accuracy in pp
    crit = tables.criteria_table(df)
    assert "mAP no FT (%)" in crit and "Acc. no FT (%)" not in crit
    assert crit["mAP FT 100% (%)"].str.len().gt(0).any()
    assert any("on mAP" in n for n in crit.attrs["notes"])
    summary = tables.summary_table(df)
    assert {"mAP (%)", "AUC (%)", "d′"} <= set(summary.columns) and "Accuracy (%)" not in summary
    comp_table = tables_comparison.comparison_table(df)
    assert set(comp_table["Metric"]) == {"mAP (points)", "AUC (points)", "d′"}


def test_figures_draw_map(tmp_path: Path) -> None:
    from asc.report.figures.accuracy import fig3_layer_sets, fig6_fractions

    df = _tagging_results()
    for fig in (fig3_layer_sets, fig6_fractions):
        paths = fig(df, tmp_path / fig.__name__)
        assert paths and all(p.stat().st_size > 0 for p in paths)


def test_a_tagging_row_holds_the_task_metrics(tmp_path: Path) -> None:
    from asc.report.results_check import check_results_table
    from asc.report.rows import make_row

    scores = tagging_metrics(PROBS, TARGETS)
    counts = {"params_torch": 10, "params_keras": 10, "macs": 100}
    row = make_row(
        stage="baseline", run_id="r", dataset="tagdemo", scores=scores, complexity=counts, full=counts,
        checkpoint="m.pt", task=TAGGING,
    )  # fmt: skip
    assert row["mAP"] == scores["mAP"] and row["d_prime"] == scores["d_prime"] and "accuracy" not in row
    import pandas as pd

    table = tmp_path / "results.csv"
    pd.DataFrame([row | {"mAP": 1.2}]).to_csv(table, index=False)
    with pytest.raises(ValueError, match="mAP"):
        check_results_table(table)
