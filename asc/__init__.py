"""asc: acoustic scene classification and passive CNN filter pruning (Singh & Plumbley, Interspeech 2022).

For notebooks: :func:`run` runs a job with Hydra overrides, :func:`read_results` reads its results table as a pandas
DataFrame and :func:`load_model` loads the network of one row (asc/api.py). Importing asc imports no torch.
"""

from importlib.resources import files
from pathlib import Path

# The Hydra configs: package data (asc/conf, a link to the repository's conf/ that a wheel or `pip install .`
# copies into the package), so an installed asc finds them wherever it runs.
CONF_DIR = Path(str(files("asc") / "conf"))

__all__ = ["CONF_DIR", "load_model", "read_results", "run"]


def __getattr__(name: str):
    if name in ("run", "read_results", "load_model"):
        from asc import api

        return getattr(api, name)
    raise AttributeError(f"module 'asc' has no attribute {name!r}")
