"""Zoo networks in the pipeline, fast tier: costs (asc/nets/cost.py) against the published and analytic counts,
one-by-one training (asc/training/train_plain.py), validation by the family's declared options, the dry run's line."""

from __future__ import annotations

import pytest
import torch

from asc import nets
from asc.core.errors import ConfigError
from asc.nets.cost import complexity, front_end_macs
from asc.nets.families import FAMILIES
from asc.nets.options import check_model


def test_flop_counter_matches_the_dcase_analytic_count():
    from asc.nets.complexity import complexity as dcase_complexity
    from asc.nets.model import build_model

    model = build_model()
    assert complexity(model, (40, 500)) == dcase_complexity(model)  # 286,637,800 MACs, 46,118 / 46,246 params


@pytest.mark.parametrize(
    ("name", "shape", "macs"),
    [
        ("vggish_asc", (64, 96), 847_119_616),  # reference/networks.md: 847.1 M per 0.96-s patch
        ("dcase2024", (256, 65), 29_416_448),  # README 29.42 M (29,419,156 with its BN/pool terms)
    ],
)
def test_macs_of_published_networks(name, shape, macs):
    model = nets.build({"name": name})
    assert complexity(model, shape)["macs"] == macs


def test_front_end_is_counted_apart():
    panns = {"n_fft": 1024, "stats_frames": 1001, "n_mels": 64, "win_length": 1024}
    assert front_end_macs(panns) == 1001 * (2 * 1024 * 10 + 64 * 513 + 1024)


def test_train_one_selects_the_best_epoch_and_learns():
    from asc.training.train import Recipe, Run
    from asc.training.train_plain import predict, train_one

    torch.manual_seed(0)
    x = torch.randn(64, 64, 21)
    y = (x[:, :8].mean(dim=(1, 2)) > 0).long()  # a learnable rule
    model = nets.build({"name": "panns_cnn10", "widths": [4, 4, 8, 8], "n_classes": 2})
    run = Run(
        model,
        torch.arange(48),
        0,
        None,
        Recipe(epochs=6, batch_size=16, lr=0.01, adam_eps=1e-7, select_after=0),
    )
    history = train_one(run, (x, y), (x[48:], y[48:]))
    accs = [h["select_acc"] for h in history["history"]]
    assert history["best_epoch"] == 1 + accs.index(max(accs)) and len(accs) == 6
    kept = float((predict(run.model, x[48:]).argmax(1) == y[48:].numpy()).mean())
    assert kept == pytest.approx(max(accs))


def test_validation_reads_the_family_declaration():
    fam = FAMILIES["vggish_asc"]
    feats = {"n_mels": 64, "frames": 997}
    check_model(fam, {"name": "vggish_asc", "widths": [64, 128, 256, 256, 512, 512]}, feats)
    with pytest.raises(ConfigError, match=r"model.widths=\[64, 0\] is not valid: expected a non-empty list"):
        check_model(fam, {"name": "vggish_asc", "widths": [64, 0]}, feats)
    with pytest.raises(ConfigError, match="model.kernel: model=vggish_asc has no such option"):
        check_model(fam, {"name": "vggish_asc", "kernel": 3}, feats)
    with pytest.raises(ConfigError, match="features.n_mels=40: use features=vggish64"):
        check_model(fam, {"name": "vggish_asc", "n_mels": 64}, {"n_mels": 40, "frames": 500})
    with pytest.raises(ConfigError, match="model.factory is not set"):
        check_model(
            FAMILIES["custom"], {"name": "custom", "input_shape": [40, 500]}, {"n_mels": 40, "frames": 500}
        )


def test_dry_run_says_how_networks_train():
    from asc.pipeline.dryrun import training_mode

    assert "one by one (model=panns_cnn14 is not fusable" in training_mode({"model": {"name": "panns_cnn14"}})
    assert "fused" in training_mode({"model": {"name": "dcase21"}, "runtime": {"fuse": True}})
