"""Knowledge distillation (asc/training/distill.py): the loss against torch's own KL, fused KD equal to one-by-one KD on
the CPU, a student taught by logits alone reproducing its teacher, and the teacher logits file's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from config_fixtures import NO_FIGURES

from asc.core.errors import ConfigError, InputError
from asc.nets.model import build_model
from asc.training import distill
from asc.training.train import Recipe, Run, train_many

SPEC = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]]}  # small: fast
SCENES = [f"s{i}" for i in range(10)]


def _teacher(logits: torch.Tensor, alpha: float = 0.02, temperature: float = 2.0, kl_mean: str = "per_clip"):
    return {"logits": logits, "alpha": alpha, "temperature": temperature, "kl_mean": kl_mean}


def test_loss_is_hintons_with_torchs_kl() -> None:
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 2, 10, generator=g), torch.randn(6, 2, 10, generator=g)
    y = torch.randint(0, 10, (6, 2), generator=g)
    hard = F.cross_entropy(student.transpose(1, 2), y, reduction="none").mean(0)
    teachers = distill.teacher_tensors(
        [
            type("R", (), {"teacher": _teacher(teacher[:, 0], 0.3, 2.0)})(),
            type("R", (), {"teacher": _teacher(teacher[:, 1], 0.0, 4.0, "per_element")})(),
        ],
        "cpu",
    )
    idx = torch.arange(6)[:, None].expand(6, 2)
    got = distill.kd_losses(student, hard, distill.gather(teachers, torch.tensor([0, 1]), idx))
    for g_, (alpha, t, per) in enumerate([(0.3, 2.0, 1), (0.0, 4.0, 10)]):
        kl = F.kl_div(
            F.log_softmax(student[:, g_] / t, 1),
            F.log_softmax(teacher[:, g_] / t, 1),
            log_target=True,
            reduction="batchmean",
        )
        expected = alpha * hard[g_] + (1 - alpha) * t * t * kl / per
        torch.testing.assert_close(got[g_], expected)
    plain = distill.teacher_tensors([type("R", (), {"teacher": None})()] * 2, "cpu")
    assert plain is None  # no run distils: train_many's step is the hard-label one


def test_settings_are_checked() -> None:
    ok = {"distill": {"alpha": 0.02, "temperature": 2, "kl_mean": "per_clip"}}
    assert distill.settings(ok) == {"alpha": 0.02, "temperature": 2.0, "kl_mean": "per_clip"}
    for key, bad in (("alpha", 1.5), ("temperature", 0), ("kl_mean", "batch")):
        with pytest.raises(ConfigError, match=f"finetune.distill.{key}"):
            distill.settings({"distill": {**ok["distill"], key: bad}})
    assert [distill.kind(t) for t in ("none", None, "baseline", "ensemble", "t.csv")] == [
        "none",
        "none",
        "baseline",
        "ensemble",
        "file",
    ]


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    y = torch.randint(0, 10, (48,), generator=g)
    x = torch.randn(48, 40, 20, generator=g) + y[:, None, None] * 0.1
    val = torch.randn(16, 40, 20, generator=g), torch.randint(0, 10, (16,), generator=g)
    return {"train": (x, y), "val": val}


def _runs(root: Path, recipe: Recipe) -> list[Run]:
    """Three runs on ragged subsets: two with their own teachers (different alpha, T), one on hard labels."""
    g = torch.Generator().manual_seed(3)
    teachers = [
        _teacher(torch.randn(48, 10, generator=g) * 3, 0.1, 2.0),
        None,
        _teacher(torch.randn(48, 10, generator=g), 0.0, 1.0),
    ]
    out = []
    for i, n in enumerate((48, 21, 13)):
        torch.manual_seed(100 + i)
        idx = torch.randperm(48, generator=torch.Generator().manual_seed(i))[:n]
        out.append(
            Run(build_model(SPEC), idx, 10 + i, root / f"run{i}", recipe, f"run{i}", teacher=teachers[i])
        )
    return out


def test_fused_kd_equals_one_by_one_bit_for_bit_on_cpu(data: dict, tmp_path: Path) -> None:
    recipe = Recipe(epochs=2, batch_size=8, lr=1e-3, adam_eps=1e-7, select_after=0)
    together, alone = _runs(tmp_path / "fused", recipe), _runs(tmp_path / "alone", recipe)
    h_f = train_many(together, data["train"], data["val"], progress=False)
    h_a = train_many(alone, data["train"], data["val"], fuse=False, progress=False)
    for a, b, ha, hb in zip(together, alone, h_f, h_a, strict=True):
        for name, value in a.model.state_dict().items():
            assert torch.equal(value, b.model.state_dict()[name]), name
        assert [e["loss"] for e in ha["history"]] == [e["loss"] for e in hb["history"]]
    # The run without a teacher is exactly the hard-label training it would be in a job without KD.
    (plain,) = [r for r in _runs(tmp_path / "plain", recipe) if r.teacher is None]
    train_many([plain], data["train"], data["val"], progress=False)
    for name, value in plain.model.state_dict().items():
        assert torch.equal(value, together[1].model.state_dict()[name]), name


@pytest.mark.slow  # ~15 s on a quiet 2-core machine, minutes under load
def test_student_on_teacher_logits_alone_reproduces_the_teacher(tmp_path: Path) -> None:
    """A toy task: the teacher's class is a fixed function of the input, the labels are another (shifted by
    one): with alpha = 0 the student learns the teacher's predictions, not the labels."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 40, 20, generator=g)
    cls = torch.arange(60) % 10
    for k in range(4):
        x[torch.arange(60), cls * 4 + k, :] += 3.0  # class c lights mel bands 4c..4c+3: learnable
    teacher = 4.0 * F.one_hot(cls, 10).float()  # the teacher's logits
    labels = (cls + 1) % 10  # hard labels that disagree with the teacher everywhere
    torch.manual_seed(1)
    student = build_model(SPEC)
    recipe = Recipe(epochs=30, batch_size=16, lr=1e-2, adam_eps=1e-7, select_after=100)
    run = Run(
        student, torch.arange(60), 0, tmp_path / "s", recipe, "student", teacher=_teacher(teacher, 0.0, 2.0)
    )
    train_many([run], (x, labels), (x[:10], labels[:10]), progress=False)
    pred = student.eval()(x).argmax(1)
    assert (pred == cls).float().mean() >= 0.9
    assert (pred == labels).float().mean() <= 0.1


def test_logits_file_checks(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text("filename," + ",".join(SCENES) + "\n" + "a.wav," + ",".join(["0.5"] * 10) + "\n")
    names, logits = distill.read_logits_file(good, SCENES)
    assert names == ["a.wav"] and logits.shape == (1, 10)
    distill.check_coverage(names, ["a.wav"], str(good))
    with pytest.raises(InputError, match=r"no logits for 1 of the 2 training clips \(e.g. b.wav\)"):
        distill.check_coverage(names, ["a.wav", "b.wav"], str(good))
    short = tmp_path / "short.csv"
    short.write_text("filename," + ",".join(SCENES[:9]) + "\na.wav," + ",".join(["0"] * 9) + "\n")
    with pytest.raises(InputError, match="expected filename and one logit column per class"):
        distill.read_logits_file(short, SCENES)
    with pytest.raises(InputError, match="no such file"):
        distill.read_logits_file(tmp_path / "missing.csv", SCENES)
    nan = tmp_path / "nan.csv"
    nan.write_text("filename," + ",".join(SCENES) + "\na.wav,nan," + ",".join(["0"] * 9) + "\n")
    with pytest.raises(InputError, match="non-finite"):
        distill.read_logits_file(nan, SCENES)


@pytest.mark.slow
def test_pipeline_teacher_file_and_ensemble(run_asc, tmp_path: Path, shared_data: Path) -> None:
    """ensemble: one teacher artifact (mean logits of the seeds' baselines) that the KD rows name; the same
    logits written as a CSV key a file teacher by content, and a file missing a training clip is refused at
    planning (by the CLI: its exit code and line)."""
    import numpy as np
    import pandas as pd
    from test_cli import TINY_RECIPE, paths

    import asc

    base = [
        *paths(tmp_path, data=shared_data),
        *TINY_RECIPE,
        "runs=[{criteria:[l1],fractions:[1.0],repeats:1}]",
        "model.widths=[4,4,8]",
    ]
    base += ["runtime.latency.measure=false", "quantise.enabled=false", *NO_FIGURES]
    # the two jobs that build run in this process (their artifacts are checked, not the CLI's exit): two
    # interpreter starts (and the entry point's malloc re-exec) less; hydra.run.dir is the CLI's alone
    in_process = [a for a in base if not a.startswith("hydra.run.dir=")]
    asc.run([*in_process, "finetune.teacher=ensemble", "train.seeds=[0,1]"])
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert rows.loc[rows["stage"] == "finetune", "teacher"].tolist() == ["ensemble of 2 baseline(s)"]
    (folder,) = (tmp_path / "store" / "teacher").iterdir()
    logits = np.load(folder / "logits.npy")
    clips = pd.read_csv(folder / "clips.csv")["filename"]
    assert logits.shape == (len(clips), 10) and np.isfinite(logits).all()

    from asc.data.tau import SCENES

    table = pd.DataFrame(logits, columns=list(SCENES)).assign(filename=clips)
    csv = tmp_path / "teacher.csv"
    table.sample(frac=1.0, random_state=0).to_csv(csv, index=False)  # any row order
    asc.run(
        [
            *paths(tmp_path, results="results_file", run=None, data=shared_data),
            *base[4:],
            f"finetune.teacher={csv}",
        ]
    )
    stored = sorted(p for p in (tmp_path / "store" / "teacher").iterdir() if p != folder)
    assert len(stored) == 1
    np.testing.assert_array_equal(np.load(stored[0] / "logits.npy"), logits)  # reordered to the pool's clips

    table.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    refused = run_asc(*base, f"finetune.teacher={tmp_path / 'short.csv'}", "dry_run=true", timeout=200)
    assert refused.returncode != 0
    assert f"has no logits for 1 of the {len(clips)} training clips" in refused.output


def _zoo_run(root: Path, teacher: dict | None) -> Run:
    """A tiny DCASE 2024 network (a zoo family trained one by one, asc/training/train_plain.py): one full batch, one epoch."""
    from asc.nets.dcase2024 import Dcase2024Net

    torch.manual_seed(5)
    model = Dcase2024Net(base_channels=8, channels_multiplier=1.0, expansion_rate=1.0, n_blocks=(1, 1, 1))
    # adam_eps well above float rounding: a bias before a BatchNorm has a gradient of ~0, whose first Adam step
    # (lr · g / (|g| + eps)) would otherwise follow the rounding of the two loss formulas
    recipe = Recipe(epochs=1, batch_size=48, lr=1e-2, adam_eps=1e-3, select_after=0)
    return Run(model, torch.arange(48), 3, root, recipe, "zoo", teacher=teacher)


def test_one_by_one_trainer_applies_kd_to_a_zoo_network(data: dict, tmp_path: Path) -> None:
    """A zoo network fine-tuned with a teacher by the one-by-one trainer takes the KD step (alpha·CE +
    (1 − alpha)·T²·KL, computed here by hand with torch's KL), not the hard-label one."""
    import copy

    from asc.training.train_plain import optimizer_of, train_one

    logits = torch.randn(48, 10, generator=torch.Generator().manual_seed(9)) * 3
    plain, taught = _zoo_run(tmp_path / "plain", None), _zoo_run(tmp_path / "kd", _teacher(logits, 0.25, 2.0))
    start = copy.deepcopy(taught.model)
    train_one(plain, data["train"], data["val"])
    train_one(taught, data["train"], data["val"])
    names = [n for n, v in start.state_dict().items() if v.is_floating_point()]
    assert any(not torch.equal(plain.model.state_dict()[n], taught.model.state_dict()[n]) for n in names)

    x, y = data["train"]  # by hand: one Adam step on the whole (shuffled: the mean does not care) batch
    opt = optimizer_of(start, taught.recipe, steps=1)
    out = start.train()(x)
    kl = F.kl_div(
        F.log_softmax(out / 2.0, 1), F.log_softmax(logits / 2.0, 1), log_target=True, reduction="batchmean"
    )
    loss = 0.25 * F.cross_entropy(out, y) + 0.75 * 4.0 * kl
    opt.zero_grad()
    loss.backward()
    opt.step()
    for n in names:
        torch.testing.assert_close(taught.model.state_dict()[n], start.state_dict()[n])
