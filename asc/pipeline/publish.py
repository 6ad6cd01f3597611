"""Publishing one evaluated model as an artifact: its checkpoint, its metrics and its results row.

Every model-building stage (train, prune, finetune) ends here, so every row has the same columns: identity,
metrics, counted cost (against the model it was pruned from), parameter memory and the architecture
(``model_spec``, from which the report measures latency).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.atomic import atomic_write_json
from asc.core.checks import require_finite
from asc.core.provenance import provenance
from asc.data.tasks import SCENES, Task
from asc.nets.complexity import complexity
from asc.nets.model import BaselineCNN, save_model
from asc.pipeline.step import Step
from asc.report.cost import memory_columns
from asc.report.rows import ROW_STAGE, make_row
from asc.report.rules import rule_columns, zoo_rule_columns


def publish(
    step: Step,
    work: Path,
    model: BaselineCNN,
    scores: Mapping[str, Any],
    *,
    final: Path,
    dataset: str,
    rule: str,
    full: Mapping[str, int],
    extra: Mapping[str, Any] | None = None,
    task: Task = SCENES,
    net: tuple[Mapping[str, Any], tuple[int, int]] | None = None,
    history: Sequence = (),
    **fields: Any,
) -> None:
    """Write model.pt (carrying its config), metrics.json (``scores`` + ``extra``) and row.json into ``work``,
    the artifact's build folder (``final`` is where it will live). ``full`` is the complexity of the unpruned
    model the row's reductions are relative to; ``rule`` the dataset's complexity rule (asc/report/rules.py), whose
    columns the row carries too; the row records what built it (asc/core/provenance.py); ``task`` which metric
    columns it holds (asc.data.tasks). Raises NonFiniteError (nothing stored) for non-finite weights or metrics. A
    network that is not of the DCASE family needs ``net`` = (its ``model`` config node, its input (mel,
    frames)) and, when pruned, its pruning ``history`` (asc/nets/checkpoint.py)."""
    model = model.cpu()
    require_finite(f"{step.label}: weights", model.state_dict())
    require_finite(f"{step.label}: metrics", {k: scores[k] for k in task.finite})
    atomic_write_json(work / "metrics.json", {**scores, **(extra or {})})
    if isinstance(model, BaselineCNN):
        save_model(model, work / "model.pt", config=dict(step.config), label=step.label)
        counted, spec = complexity(model), model.spec
        cost_columns = memory_columns(counted["params_keras"]) | rule_columns(rule, model)  # 2021's always
    else:  # a zoo network (asc/nets/): rebuilt from its architecture, arguments and pruning history
        from asc.nets.checkpoint import save
        from asc.nets.cost import complexity as net_complexity

        spec = dict(net[0])
        save(model, work / "model.pt", spec, history, config=dict(step.config), label=step.label)
        counted = net_complexity(model, net[1])
        if history:  # the pruned widths, from which the report rebuilds the architecture to time it
            spec["history"] = [[p, bool(out), len(idx)] for p, out, idx in history]  # channels removed
        cost_columns = memory_columns(counted["params_keras"]) | zoo_rule_columns(rule, counted)
    row = make_row(
        stage=ROW_STAGE[step.stage],
        run_id=step.id,
        dataset=dataset,
        scores=scores,
        complexity=counted,
        full=full,
        checkpoint=str(final / "model.pt"),
        task=task,
        model_spec=json.dumps(spec, sort_keys=True),
        **cost_columns,
        provenance=provenance(),
        **fields,
    )
    atomic_write_json(work / "row.json", row)
    for last in [work / "last.pt", *work.glob("*/last.pt")]:  # resume checkpoints (per-device runs: one each)
        last.unlink(missing_ok=True)  # are not part of the artifact
