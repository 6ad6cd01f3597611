"""Writing a table as CSV, Markdown and LaTeX: a tiny formatter for each, so no `tabulate`/`jinja2` dependency
is needed. A table's notes (``table.attrs["notes"]``: what its markers and intervals mean) follow it in
Markdown and LaTeX; the CSV stays plain data. Columns named in ``table.attrs["csv_only"]`` (:data:`CSV_ONLY`: the
numbers behind a formatted cell, e.g. an interval's bounds) are written to the CSV alone, for machines; Markdown
and LaTeX show the formatted cells, for people."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from asc.core.atomic import atomic_write_text

__all__ = ["CSV_ONLY", "to_latex", "to_markdown", "write_table"]

CSV_ONLY = "csv_only"  # table.attrs key: the columns the CSV alone holds


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(value) >= 1000:
        return str(int(value))  # params that became float because of a missing value elsewhere
    return str(value)


# A number (signed or not), "mean ± std", optionally "(n = 1)" and significance markers.
_NUMBER = re.compile(r"^[<+-]?\d+(\.\d+)?( ± \d+(\.\d+)?)?( \(n = 1\))?[*†]*$")


def _right_aligned(column: pd.Series) -> bool:
    """Numbers, and "mean ± std" text, read best right-aligned so the decimal points line up."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    texts = [str(v) for v in column if _cell(v)]
    return bool(texts) and all(_NUMBER.match(t) for t in texts)


def _for_people(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` less its :data:`CSV_ONLY` columns (its notes kept)."""
    machine = [c for c in table.attrs.get(CSV_ONLY, []) if c in table.columns]
    if not machine:
        return table
    shown = table.drop(columns=machine)
    shown.attrs = {k: v for k, v in table.attrs.items() if k != CSV_ONLY}
    return shown


def to_markdown(table: pd.DataFrame) -> str:
    table = _for_people(table)
    header = [str(c) for c in table.columns]
    body = [[_cell(v).replace("|", r"\|") or "–" for v in row] for row in table.itertuples(index=False)]
    align = ["---:" if _right_aligned(table[c]) else ":---" for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    if _notes(table):  # "*" would start emphasis in Markdown
        lines += [""] + [f"Note: {note}  ".replace("*", r"\*") for note in _notes(table)]
    return "\n".join(lines) + "\n"


def _notes(table: pd.DataFrame) -> list[str]:
    return [str(n) for n in table.attrs.get("notes", []) if str(n)]


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    for char, tex in (("±", r"$\pm$"), ("–", "--"), ("−", "$-$"), ("†", r"\dag{}"), ("…", r"\dots{}")):
        out = out.replace(char, tex)
    return out


def to_latex(table: pd.DataFrame) -> str:
    table = _for_people(table)
    spec = "".join("r" if _right_aligned(table[c]) else "l" for c in table.columns)
    lines = [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex(str(c)) for c in table.columns) + r" \\",
    ]
    lines.append(r"\midrule")
    lines += [
        " & ".join(_tex(_cell(v) or "–") for v in row) + r" \\" for row in table.itertuples(index=False)
    ]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip{\footnotesize " + _tex(note) + "}" for note in _notes(table)]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, stem: Path) -> list[Path]:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex`` (booktabs tabular) atomically; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ext) for ext in (".csv", ".md", ".tex")]
    texts = [table.to_csv(index=False), to_markdown(table), to_latex(table)]
    for path, text in zip(paths, texts, strict=True):
        atomic_write_text(path, text)
    return paths
