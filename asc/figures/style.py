"""The figures' shared look: legend labels, colours and rc style, and writing a figure as PNG + PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

LABELS = {
    "cosine": "Cosine (proposed)",
    "chebyshev": "Chebyshev",
    "average": "Average filters",
    "l1": r"$\ell_1$-norm",
    "l2": r"$\ell_2$-norm",
    "random": "Random init.",
    "nystrom": "Nyström",
    "centrality": "Centrality",
    "fpgm": "FPGM",
}
COLORS = {"cosine": "#1f77b4", "l1": "#ff7f0e", "random": "#2ca02c", "before": "#aec7e8", "pruned": "#c7c7c7"}
STYLE = {
    "font.size": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable and passes conference checks
}


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` (300 dpi) and ``stem.pdf``, close the figure and return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    fig.savefig(paths[0], dpi=300)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
