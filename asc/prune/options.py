"""The criteria's names and the values their options take, declared without torch: validation (asc/validate.py)
reads them at planning, the criteria (asc/prune/criteria.py, nystrom.py, surgery.py) check against them when
they run. tests/test_prune_criteria.py checks that the names are the registry's (asc.prune.CRITERIA).
"""

from __future__ import annotations

CRITERION_NAMES = (
    "average", "centrality", "chebyshev", "cosine", "fpgm", "given", "gm", "l1", "l2", "nystrom",
    "operator_norm", "random",
)  # fmt: skip

# The values each criterion option takes.
OPTION_CHOICES = {
    "partner": ("argmin", "argsort1"),
    "kept_partner": ("average", "skip"),
    "distance": ("one_minus_cos", "one_minus_abs_cos"),
    "edge_length": ("distance", "similarity"),
    "measure": ("degree", "betweenness"),
    "landmark_choice": ("first", "random", "kmeans++"),
    "dense_mapping": ("correct", "authors"),
}

# The criteria that decide how many filters to keep by themselves (Algorithm 1 and its variants): what a
# ratio-free criterion's `match` and random's `reference` can name.
DECIDE_THEIR_COUNT = ("average", "chebyshev", "cosine", "nystrom")

# Options of dependency-graph surgery that no conf/prune file holds (every criterion takes them; validation
# accepts them): ``depthwise`` lets a glob in prune.layers select depthwise groups (asc/prune/groups.py).
GRAPH_OPTIONS = ("depthwise",)
