"""asc from Python (issue 29): run a job, read its results table, load a row's network; and README's example,
executed as written (on a smaller demo set, in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from config_fixtures import QUICK_FIGURES, TINY_DEMO_DATA
from results_fixtures import make_results

import asc
from asc.core.errors import ConfigError
from asc.nets.model import build_model, save_model
from asc.report import results

README = Path(__file__).resolve().parents[1] / "README.md"


def test_read_results_and_load_model(tmp_path: Path) -> None:
    table = make_results()
    model = build_model()
    save_model(model, tmp_path / "model.pt")
    table["checkpoint"] = str(tmp_path / "model.pt")
    results.append(tmp_path / "results.csv", table.to_dict("records"))
    got = asc.read_results(tmp_path)  # the folder or the file
    assert isinstance(got, pd.DataFrame) and len(got) == len(table)
    assert got.equals(asc.read_results(tmp_path / "results.csv"))
    loaded = asc.load_model(got.iloc[3])
    assert not loaded.training
    x = torch.randn(2, 1, 40, 500)
    model.eval()
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        asc.read_results(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="model checkpoint"):
        asc.load_model({"checkpoint": str(tmp_path / "gone.pt")})


def test_run_refuses_like_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train=foo is not a recipe of conf/train/"):
        asc.run(["train=foo"])
    with pytest.raises(ConfigError, match=r"^repeats=0 is not valid"):
        asc.run(["repeats=0", f"paths.store={tmp_path}/s"])
    assert not (tmp_path / "s").exists()


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example as written; every job it runs also gets a smaller demo set, a narrow network and paths in
    tmp_path (the example's own paths.results stays relative: it lands in tmp_path, the working folder)."""
    from asc.app import api

    tiny = [
        *TINY_DEMO_DATA,
        "train.epochs=1",
        "train.select_after=0",
        "model.widths=[4,4,8]",
        "runtime.latency.measure=false",
        *QUICK_FIGURES,
        "quantise.enabled=false",  # the example reads accuracies, not the ONNX stage (tests/test_quantised*.py)
        f"paths.data={shared_data}",
        f"paths.store={tmp_path}/store",
    ]
    compose = api.compose
    monkeypatch.setattr(api, "compose", lambda overrides=(): compose([*overrides, *tiny]))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)  # noqa: S102 - the documented example
    table = scope["table"]
    assert scope["folder"] == tmp_path / "outputs" / "notebook"
    tuned = table[table.stage == "finetune"]
    assert sorted(tuned.groupby("criterion").size().items()) == [("cosine", 2), ("l1", 2)]
    assert isinstance(scope["model"], torch.nn.Module)
