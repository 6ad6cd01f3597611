"""The per-layer sensitivity curves of a sensitivity scan (asc/prune/sensitivity.py), read from its results.csv
for a budget (asc/prune/budget.py): each layer's accuracy at each scanned ratio, and the unpruned baseline's.

Only the scan's own points count: single-layer, one-shot, hard-label rows of the criterion (a KD or QAT row, an
iterative schedule's step or a layer set pools apart); a point's accuracy is the mean over the fine-tuned repeats
on the largest fraction, or the accuracy before fine-tuning where the scan has none. A file that holds none is
refused in one line (ConfigError naming the key and the file). Torch-free.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from asc.core.values import fail

_SCANS: dict[tuple[Any, ...], tuple[float, dict[str, dict[float, float]]]] = {}


def read_scan(where: str, path: Any, name: str) -> tuple[float, dict[str, dict[float, float]]]:
    """(the baseline's mean accuracy, {layer: {ratio: accuracy}}) of criterion ``name``'s single-layer one-shot
    hard-label scan points in the results.csv at ``path``; one-line ConfigError where it is none."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        fail(
            f"{where}.scan",
            path,
            f"an existing file ({file.absolute()} is none): the results.csv of a sensitivity scan "
            "(run `asc experiment=sensitivity`)",
        )
    stat = file.stat()
    version = (str(file.resolve()), stat.st_mtime_ns, stat.st_size, str(name))
    if version not in _SCANS:  # planning asks once per call of prune_runs: read each file version once
        _SCANS[version] = _points(where, path, file, name)
    return _SCANS[version]


def _blank(value: Any) -> bool:
    """A CSV cell with nothing in it (asc/report/rows.py reads ``teacher``, ``qat``, ``prune_steps`` the same way)."""
    return str(value if value is not None else "").strip().lower() in ("", "nan", "none")


def _points(where: str, path: Any, file: Path, name: str) -> tuple[float, dict[str, dict[float, float]]]:
    with file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"stage", "criterion", "layers", "ratio", "accuracy"} <= set(rows[0]):
        fail(f"{where}.scan", path, "a results.csv with stage, criterion, layers, ratio and accuracy columns")
    base = [float(r["accuracy"]) for r in rows if r["stage"] == "baseline" and r["accuracy"]]
    points: dict[tuple[str, float], dict[str, list[tuple[float, float]]]] = {}
    for r in rows:
        plain = _blank(r.get("teacher")) and str(r.get("qat")).strip().lower() not in ("true", "1", "1.0")
        one_shot = (
            _blank(r.get("prune_steps")) or float(r["prune_steps"]) == 1
        )  # no iterative schedule's step
        crit = re.sub(r" [\d.]+%$", "", r["criterion"])
        if r["stage"] not in ("prune", "finetune") or not (plain and one_shot and crit == name):
            continue
        if not r["ratio"] or "+" in r["layers"] or not r["accuracy"]:
            continue
        frac = float(r.get("fraction") or 1.0) if r["stage"] == "finetune" else 0.0
        at = points.setdefault((r["layers"], float(r["ratio"])), {})
        at.setdefault(r["stage"], []).append((frac, float(r["accuracy"])))
    if not base or not points:
        fail(
            f"{where}.scan",
            path,
            f"a sensitivity scan of {name} with its baseline (`asc experiment=sensitivity`)",
        )
    curves: dict[str, dict[float, float]] = {}
    for (layer, ratio), by_stage in points.items():
        got = by_stage.get("finetune") or by_stage["prune"]
        top = max(fr for fr, _ in got)
        accs = [a for fr, a in got if fr == top]
        curves.setdefault(layer, {})[ratio] = sum(accs) / len(accs)
    return sum(base) / len(base), curves
