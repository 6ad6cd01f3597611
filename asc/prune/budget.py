"""Per-layer ratios for a target budget, chosen from a sensitivity scan at planning (torch-free; issue 27 §4).

``+prune.budget.macs=<int>`` (MACs per clip) or ``+prune.budget.params_kb=<float>`` (parameter memory in KB of 1024
bytes, Keras' count with BN moving statistics, at ``prune.budget.precision``: fp32, fp16 or int8; the DCASE rule,
asc/report/cost.py), with ``prune.budget.scan=<path>``: the results.csv of a sensitivity scan (``asc
experiment=sensitivity``, asc/prune/sensitivity.py) holding this criterion's single-layer scan points. Also on
``criteria.<name>.budget`` of a `runs` block.

The choice (greedy, as the per-layer sensitivity analysis of Li et al., "Pruning Filters for Efficient ConvNets",
ICLR 2017 §4.2, read for a budget): every layer of ``layers`` starts unpruned; while the network is over budget, one
layer's ratio is raised to its next scanned ratio, the step of least accuracy loss per MAC (or parameter byte)
saved; a layer's loss is its scan's accuracy at that ratio (asc/prune/sensitivity_curves.py: mean over the
fine-tuned repeats on the largest fraction; the accuracy before fine-tuning where the scan has none) less the
previous one (the unpruned baseline's mean at ratio 0). Losses of layers are assumed additive (each was scanned alone). Costs are the DCASE family's exact
count from widths (:func:`dcase_cost`, equal to asc/nets/complexity.py's measured one), the kept counts those of
asc/prune/criteria.py's ``n_keep``. The chosen ``per_layer_ratio`` (every layer of ``layers``; 0 leaves one
unpruned) replaces the budget in the criterion config, so it alone enters the artifact key; planning logs it.

Refused at planning, one line each: both budgets or neither, a missing or non-scan file, a layer the file has not
scanned for this criterion, a budget the largest scanned ratios cannot reach (or the unpruned network already
meets), a network outside the DCASE family, a budget on a sensitivity block.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asc.core.values import choice, fail, number, whole
from asc.nets.model_spec import DEFAULT_SPEC, normalise_spec
from asc.prune.blocks import KEY as BLOCK_KEY
from asc.prune.blocks import to_block
from asc.prune.options import BUDGET_KEY as KEY  # accepted on every criterion
from asc.prune.sensitivity_curves import read_scan

log = logging.getLogger(__name__)


# The DCASE memory rule's units, as asc/report/cost.py counts them (that module sits on the report floor, above this one).
KB = 1024
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}
_SAID: set[tuple[str, ...]] = set()
DEFAULTS = {"macs": None, "params_kb": None, "scan": None, "precision": "fp32"}


def kept(width: int, ratio: float) -> int:
    """Filters kept of ``width`` at ``ratio`` removed: asc/prune/criteria.py's n_keep (half up, at least one)."""
    return max(1, width - math.floor(float(ratio) * width + 0.5))


def dcase_cost(spec: Mapping[str, Any]) -> dict[str, int]:
    """{"params_keras", "macs"} of the DCASE 2021/2022 baseline of ``spec`` (asc/nets/model_spec.py), from its widths:
    conv MACs = out H × W × c_out × c_in × k², dense = in × out (no BN, bias or pooling: asc/nets/complexity.py);
    params = conv weights + bias, BN's 4 per channel, dense weights + bias. The default spec: 46,246 / 286,637,800."""
    from asc.nets.counts import dcase

    counted = dcase(spec)
    return {"params_keras": counted["params"], "macs": counted["macs"]}


def _spec(model: Mapping[str, Any]) -> dict[str, Any]:
    return normalise_spec({k: v for k, v in model.items() if k in DEFAULT_SPEC})


def _network(spec: Mapping[str, Any]) -> str:
    """A DCASE-family network in words: ``widths [16, 16, 32], input 40x500, kernel 7, dense 100``."""
    s = _spec(spec)
    return f"widths {list(s['widths'])}, input {s['input_shape'][0]}x{s['input_shape'][1]}, kernel {s['kernel']}, dense {s['dense']}"


def check_source(where: str, path: Any, cfg: Mapping[str, Any]) -> None:
    """The scan's baseline rows (their ``dataset`` and ``model_spec`` cells) against the job's data (its dataset
    label, asc.report.rows.dataset_label less a brought folder's ``@key``) and unpruned network: one-line
    ConfigError naming both where they differ (a scan of another network or data ranks layers for another job).
    Cells left blank (tables written before the columns) are not compared."""
    import json

    d = cfg["dataset"]
    data, net = str(d.get("label") or d["name"]), _network(cfg["model"])
    if not Path(str(path)).expanduser().is_file():
        return  # refused by _read_scan, naming the file
    with Path(str(path)).expanduser().open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("stage") == "baseline"]
    for r in rows:
        theirs = str(r.get("dataset") or "").split("@")[0]
        try:
            spec = json.loads(r.get("model_spec") or "")
        except ValueError:
            spec = None
        other = (
            None
            if not isinstance(spec, dict)
            else f"model={spec['name']}"
            if "name" in spec
            else _network(spec)
        )
        if (theirs and theirs != data) or (other is not None and other != net):
            fail(
                where,
                path,
                f"a scan of this job's network and data: the scan is of {other or 'an unrecorded network'} on "
                f"{theirs or 'unrecorded data'}, this job {net} on {data} (scan this job: asc experiment=sensitivity "
                "with the same model and dataset)",
            )


def check(where: str, budget: Any, *, graph: bool, scan: bool) -> dict[str, Any]:
    """The budget node at ``where`` (``prune.budget``) with its defaults; one-line ConfigError where it is bad."""
    if not isinstance(budget, Mapping):
        fail(where, budget, "a mapping, e.g. '+prune.budget.macs=20000000 +prune.budget.scan=results.csv'")
    for extra in sorted(set(budget) - set(DEFAULTS)):
        choice(f"{where} key", extra, tuple(DEFAULTS))
    b = {**DEFAULTS, **budget}
    if graph:
        fail(where, dict(budget), "no budget: it costs the DCASE family's widths (model=dcase21 or dcase22)")
    if scan:
        fail(where, dict(budget), "no budget in a sensitivity block (the scan prunes at its own ratios)")
    if (b["macs"] is None) == (b["params_kb"] is None):
        said = (
            "not both"
            if b["macs"] is not None
            else f"one: add +{where}.macs=<int> or +{where}.params_kb=<float>"
        )
        fail(where, dict(budget), f"one of macs=<int> (MACs per clip) or params_kb=<float> (KB), {said}")
    if b["macs"] is not None:
        b["macs"] = whole(f"{where}.macs", b["macs"], 1)  # 1.5e7 (a float to Hydra) is 15000000 MACs
    else:
        number(f"{where}.params_kb", b["params_kb"], 0.0, math.inf)
    choice(f"{where}.precision", b["precision"], tuple(BYTES_PER_PARAM))
    if not b["scan"]:
        fail(f"{where}.scan", b["scan"], "the path of a sensitivity scan's results.csv")
    return b


def choose(
    where: str, p: Mapping[str, Any], model: Mapping[str, Any], b: Mapping[str, Any]
) -> dict[str, float]:
    """{layer: ratio} over ``p["layers"]`` meeting budget ``b`` (checked by :func:`check`) on the DCASE network
    of the ``model`` config node, greedily from the scan (see the module docstring)."""
    spec = _spec(model)
    names = [f"C{i + 1}" for i in range(len(spec["widths"]))]
    layers = [p["layers"]] if isinstance(p["layers"], str) else [str(x) for x in p["layers"]]
    baseline, curves = read_scan(where, b["scan"], p["name"])
    for layer in layers:
        if layer not in curves:
            fail(
                f"{where}.scan",
                b["scan"],
                f"a scan of {p['name']} on {layer} alone (it has {sorted(curves)})",
            )
    column, limit, unit = _limit(b)

    def cost(ratios: Mapping[str, float]) -> int:
        widths = [
            to_block(kept(w, ratios.get(n, 0.0)), w, p.get(BLOCK_KEY)) if n in ratios else w
            for w, n in zip(spec["widths"], names, strict=True)
        ]
        return dcase_cost(dict(spec, widths=widths))[column]

    def shown(c: float) -> str:
        return (
            f"{c:.0f} MACs" if column == "macs" else f"{c * BYTES_PER_PARAM[b['precision']] / KB:.2f} {unit}"
        )

    given = {k: v for k, v in b.items() if v is not None}
    ratios = dict.fromkeys(layers, 0.0)
    if cost(ratios) <= limit:
        fail(
            where,
            given,
            f"a budget under the unpruned network's {shown(cost(ratios))} (it fits: nothing to prune)",
        )
    while cost(ratios) > limit:
        step = _least_loss_step(ratios, layers, curves, baseline, cost)
        if step is None:
            fail(
                where,
                given,
                f"a budget the scan reaches: at {ratios}, where no scanned step saves more, the network costs {shown(cost(ratios))}",
            )
        ratios = step
    said = (where, str(ratios), shown(cost(ratios)), str(b["scan"]))
    if said not in _SAID:  # say it once, not once per call of prune_runs
        _SAID.add(said)
        log.info("%s: per_layer_ratio %s (%s) from the scan %s", *said)
    return ratios


def _limit(b: Mapping[str, Any]) -> tuple[str, float, str]:
    """(the cost column of :func:`dcase_cost`, the budget ``b`` in its units: MACs or parameters, the unit that
    messages name)."""
    if b["macs"] is not None:
        return "macs", float(b["macs"]), "MACs"
    limit = float(b["params_kb"]) * KB / BYTES_PER_PARAM[b["precision"]]  # in parameters
    return "params_keras", limit, f"KB at {b['precision']}"


def _least_loss_step(
    ratios: Mapping[str, float],
    layers: Sequence[str],
    curves: Mapping[str, Mapping[float, float]],
    baseline: float,
    cost: Callable[[Mapping[str, float]], int],
) -> dict[str, float] | None:
    """One greedy step: ``ratios`` with one layer raised to its next scanned ratio that saves anything, the step
    of least accuracy loss per unit of ``cost`` saved (the first such layer on a tie); None where no layer has a
    step that saves more."""
    best = None
    now = cost(ratios)
    for layer in layers:
        # the next scanned ratio that saves anything (a channel block may round a step to no change)
        higher = (r for r in sorted(curves[layer]) if r > ratios[layer])
        step = next(
            (dict(ratios, **{layer: r}) for r in higher if cost(dict(ratios, **{layer: r})) < now), None
        )
        if step is None:
            continue
        before = curves[layer].get(ratios[layer], baseline) if ratios[layer] else baseline
        per = (before - curves[layer][step[layer]]) / (now - cost(step))
        if best is None or per < best[0]:
            best = (per, step)
    return None if best is None else best[1]


def chosen(
    cfg: Mapping[str, Any], where: str, p: Mapping[str, Any], *, graph: bool, scan: Sequence[float]
) -> dict[str, Any]:
    """Criterion config ``p`` with its ``budget`` (if any) replaced by the chosen ``per_layer_ratio`` (the key
    holds the choice, not the budget); ``p`` itself where it has no budget."""
    if p.get(KEY) is None:
        return dict(p)
    b = check(f"{where}.{KEY}", p[KEY], graph=graph, scan=bool(scan))
    check_source(f"{where}.{KEY}.scan", b["scan"], cfg)
    ratios = choose(f"{where}.{KEY}", p, cfg["model"], b)
    return {**{k: v for k, v in p.items() if k != KEY}, "per_layer_ratio": ratios}


def chosen_all(
    cfg: Mapping[str, Any],
    configs: Sequence[Mapping[str, Any]],
    *,
    selected: bool,
    graph: bool,
    scan: Sequence[float],
) -> list[dict[str, Any]]:
    """:func:`chosen` of each criterion config of a `runs` block (``selected``: ``prune=<name>``'s, else the
    block's ``criteria.<name>``); ``scan``: the block's sensitivity ratios (a budget there is refused)."""
    return [
        chosen(cfg, "prune" if selected else f"criteria.{p['name']}", p, graph=graph, scan=scan)
        for p in configs
    ]
