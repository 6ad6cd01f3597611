"""What a written figure is: its file formats and the PNG's resolution (``runtime.figures``: I/O only, so no
artifact key holds it). Torch- and matplotlib-free, so that planning checks the option here; the report sets it
for the figures it writes (:func:`writing`) and :func:`asc.report.figures.style.save_figure` reads it."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from asc.core.values import fail, whole

FORMATS = ("png", "pdf", "svg")  # matplotlib's writers: raster for slides and notebooks, vector for papers


@dataclass(frozen=True)
class FigureOutput:
    """``formats``: the files each figure is written as, in order; ``dpi``: dots per inch of the raster ones
    (300: print quality; the vector formats ignore it)."""

    formats: tuple[str, ...] = ("png", "pdf")
    dpi: int = 300


_CURRENT: contextvars.ContextVar[FigureOutput | None] = contextvars.ContextVar("figure_output", default=None)


def current() -> FigureOutput:
    """The figure output in force (the defaults outside :func:`writing`)."""
    return _CURRENT.get() or FigureOutput()


def from_config(node: Mapping[str, Any] | None) -> FigureOutput:
    """The ``runtime.figures`` node ({formats: [...], dpi: N}; None: the defaults) as a :class:`FigureOutput`.
    ``formats: []`` writes the tables alone (no figure is drawn: e.g. on a headless cluster, the figures later with
    ``report_only=true``). Raises ConfigError naming the key: a node that is not a mapping, formats not a list of
    distinct :data:`FORMATS`, dpi not a whole number from 10 to 2400 (in either notation: ``100`` or ``1e2``)."""
    if node is None:
        return FigureOutput()
    if not isinstance(node, Mapping):
        fail("runtime.figures", node, "a node {formats: [...], dpi: N}, e.g. runtime.figures.formats=[png]")
    formats, dpi = node.get("formats"), node.get("dpi")
    if (
        not isinstance(formats, (list, tuple))
        or not all(
            isinstance(f, str) and f in FORMATS for f in formats
        )  # before set(): [[png]] is unhashable
        or len(set(formats)) != len(formats)
    ):
        fail(
            "runtime.figures.formats",
            formats,
            f"a list of distinct formats from {', '.join(FORMATS)} (lower case; [] for the tables alone), e.g. "
            "runtime.figures.formats=[png]",
        )
    dpi = whole("runtime.figures.dpi", dpi, 10)  # not keyed: 100.0 and 1e3 are whole numbers too
    if dpi > 2400:
        fail("runtime.figures.dpi", dpi, "a whole number from 10 to 2400")
    return FigureOutput(tuple(formats), dpi)


@contextlib.contextmanager
def writing(output: FigureOutput) -> Iterator[None]:
    """Figures saved inside the block are written as ``output`` says."""
    token = _CURRENT.set(output)
    try:
        yield
    finally:
        _CURRENT.reset(token)
