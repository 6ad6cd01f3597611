"""The one-by-one trainer (asc/training/train_plain.py, the zoo's networks and QAT) resumes a killed run from its
``last.pt`` (asc/training/plain_state.py) and ends bit for bit where an uninterrupted run ends on the CPU: a
killed fine-tuning of a zoo network, or an iterative-pruning step's short fine-tuning of one, does not start again
from scratch (issue 27 §3)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import asc.nets as nets
from asc.training.train import Recipe, Run
from asc.training.train_plain import train_one

# PANNs CNN10 at CPU-sized widths: BatchNorm and dropout (torch's random state must resume too)
SPEC = {"name": "panns_cnn10", "widths": [4, 4, 8, 8], "n_classes": 3}
RECIPE = Recipe(epochs=3, batch_size=16, lr=1e-2, adam_eps=1e-7, select_after=0)


class Killed(Exception):
    """The job dying after an epoch (a kill, a lost lock)."""


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 64, 32, generator=g)
    y = (x[:, :8].mean(dim=(1, 2)) > 0).long() + (x[:, 8:16].mean(dim=(1, 2)) > 0).long()
    return {"train": (x, y), "val": (x[32:], y[32:])}


def _start() -> torch.nn.Module:
    torch.manual_seed(4)
    return nets.build(SPEC)


def _run(model: torch.nn.Module, workdir: Path, seed: int = 2) -> Run:
    return Run(copy.deepcopy(model), torch.arange(32), seed, workdir, RECIPE, "zoo run")


def _kill_after(epoch: int):
    def stop(done: int) -> None:
        if done == epoch:
            raise Killed

    return stop


def test_a_killed_run_resumes_after_its_last_epoch_bit_for_bit(data: dict, tmp_path: Path, caplog) -> None:
    start = _start()
    whole = _run(start, tmp_path / "whole")
    h_whole = train_one(whole, data["train"], data["val"])
    killed = _run(start, tmp_path / "killed")
    with pytest.raises(Killed):
        train_one(killed, data["train"], data["val"], on_epoch_end=_kill_after(2))
    torch.manual_seed(123)  # another process: torch's random state is not what the killed one left
    again = _run(start, tmp_path / "killed")
    with caplog.at_level("INFO", logger="asc.training.train"):
        h_again = train_one(again, data["train"], data["val"], on_epoch_end=_kill_after(0))
    assert "resuming from" in caplog.text and "after epoch 2/3" in caplog.text
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name]), name
    strip = [{k: v for k, v in e.items() if "seconds" not in k} for e in h_whole["history"]]
    assert [{k: v for k, v in e.items() if "seconds" not in k} for e in h_again["history"]] == strip
    assert h_again["best_epoch"] == h_whole["best_epoch"]


def test_another_runs_checkpoint_is_refused(data: dict, tmp_path: Path) -> None:
    start = _start()
    with pytest.raises(Killed):
        train_one(_run(start, tmp_path), data["train"], data["val"], on_epoch_end=_kill_after(1))
    with pytest.raises(ValueError, match="written by another run or trainer"):
        train_one(_run(start, tmp_path, seed=3), data["train"], data["val"])


def test_a_run_without_a_workdir_trains_and_writes_nothing(data: dict, tmp_path: Path) -> None:
    run = Run(_start(), torch.arange(32), 2, None, RECIPE)
    assert len(train_one(run, data["train"], data["val"])["history"]) == 3


def test_a_killed_qat_run_resumes_bit_for_bit(tmp_path: Path) -> None:
    """Quantisation-aware fine-tuning (asc/training/qat.py) trains one by one too: its fake quantisers' scales
    and observers' ranges resume with the weights."""
    import warnings

    from asc.nets.model import build_model
    from asc.training import qat

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (48,), generator=g)
    x = torch.randn(48, 40, 20, generator=g) + y[:, None, None] * 0.2
    spec = {"widths": [4, 4, 8], "input_shape": [40, 20], "pools": [None, [5, 5], [4, 4]]}
    recipe = Recipe(epochs=3, batch_size=16, lr=1e-3, adam_eps=1e-7, select_after=0)

    def run(folder: str) -> Run:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notes
            net = qat.prepare(build_model(spec))
        return Run(net, torch.arange(48), 0, tmp_path / folder, recipe, "qat")

    whole = run("whole")
    train_one(whole, (x, y), (x[:16], y[:16]))
    with pytest.raises(Killed):
        train_one(run("killed"), (x, y), (x[:16], y[:16]), on_epoch_end=_kill_after(2))
    again, ran = run("killed"), []
    train_one(again, (x, y), (x[:16], y[:16]), on_epoch_end=ran.append)
    assert ran == [3]  # resumed: only the epoch the kill cut off
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name]), name
