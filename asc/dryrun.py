"""``asc dry_run=true``: the plan as a table — stage, key, cached | missing, label, training examples.

Status reads only manifests (and, for TAU, whether the dataset folder is complete); example counts are exact
once the index exists (or for the demo set, whose clip list follows from its config), else marked ``~``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.chain import STAGES, STORE_OF
from asc.plan import Step, approx_examples_per_epoch
from asc.stages.dataset import GENERATED
from asc.store import MANIFEST


def _status(step: Step, cfg: Mapping[str, Any]) -> str:
    if step.stage == "dataset" and cfg["dataset"]["name"] not in GENERATED:
        from asc.data.prepare import is_complete

        return "cached" if is_complete(Path(cfg["dataset"]["root"])) else "missing"
    root = cfg["paths"][STORE_OF[step.stage]]
    return "cached" if (Path(root) / step.stage / step.key / MANIFEST).is_file() else "missing"


def _examples(steps: Sequence[Step], cfg: Mapping[str, Any]) -> Callable[[Step], str]:
    """Training examples of a step: exact from a built index (the very subset draw), else ``~`` estimates."""
    index = next(s for s in steps if s.stage == "index")
    path = Path(cfg["paths"]["store"]) / "index" / index.key
    train_on = cfg["finetune"]["train_on"]
    if (path / MANIFEST).is_file():
        from asc.data.tau import load_index
        from asc.fractions import nested_fractions

        table = load_index(path)
        pools = {
            "train": table[table["split"] == "train"],
            "fold1_train": table[table["split"] != "evaluate"],
        }

        def exact(step: Step) -> str:
            if step.stage == "train":
                return str(len(pools["train"]))
            f = step.args["fraction"]
            return str(len(nested_fractions(pools[train_on], [f], seed=step.args["subset_seed"])[f]))

        return exact
    approx = approx_examples_per_epoch(cfg)
    return lambda step: f"~{approx(step)}"


def format_plan(steps: Sequence[Step], cfg: Mapping[str, Any], *, upto: str) -> str:
    wanted = set(STAGES[: STAGES.index(upto) + 1])
    shown = [s for s in steps if s.stage in wanted]
    examples_of = _examples(steps, cfg)
    lines = [f"{'stage':<9} {'key':<12} {'status':<7} {'examples':>9}  label"]
    counts: dict[str, list[int]] = {}
    for s in shown:
        trains = s.stage == "finetune" or (s.stage == "train" and not cfg["train"].get("init_from"))
        examples = examples_of(s) if trains else ""
        status = _status(s, cfg)
        counts.setdefault(s.stage, [0, 0])[status == "cached"] += 1
        lines.append(f"{s.stage:<9} {s.key:<12} {status:<7} {examples:>9}  {s.label}")
    total = ", ".join(f"{stage} {sum(c)} ({c[1]} cached)" for stage, c in counts.items())
    lines.append(f"\n{len(shown)} artifacts: {total}. dry run: nothing was built.")
    return "\n".join(lines)
