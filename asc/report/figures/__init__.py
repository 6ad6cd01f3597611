"""The paper's figures (Figs. 2–6) and the cost figure, each a pure function of the results table.

Every function takes the results DataFrame and an output path stem, writes ``stem.png`` and ``stem.pdf`` and
returns both paths. When the rows a figure needs are missing it raises
:class:`asc.report.queries.MissingResultsError` naming the experiment that produces them, so
``asc.report.write.write_report`` can skip it with a clear warning.

``FIGURES`` names them all; they live by family: ``filters`` (Figs. 2 and 4), ``accuracy`` (Figs. 3, 5, 6) and
``pareto`` (the cost figure), ``curves`` (the training curves), with the shared labels, colours, rc style and writer in ``style``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files only; never needs a display
# PDF font subsetting logs hundreds of INFO lines per figure through fontTools; Hydra's root logger is at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

from asc.report.figures.accuracy import fig3_layer_sets, fig5_cosine_vs_l1, fig6_fractions  # noqa: E402
from asc.report.figures.curves import training_curves  # noqa: E402
from asc.report.figures.filters import fig2_closest_distance, fig4_l1_norms  # noqa: E402
from asc.report.figures.pareto import cost_pareto  # noqa: E402

__all__ = ["FIGURES"]

FIGURES: dict[str, Callable[..., list[Path]]] = {
    "fig2_closest_distance": fig2_closest_distance,
    "fig3_layer_sets": fig3_layer_sets,
    "fig4_l1_norms": fig4_l1_norms,
    "fig5_cosine_vs_l1": fig5_cosine_vs_l1,
    "fig6_fractions": fig6_fractions,
    "cost_pareto": cost_pareto,
    "training_curves": training_curves,
}
