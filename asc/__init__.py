"""asc: acoustic scene classification and passive CNN filter pruning (Singh & Plumbley, Interspeech 2022).

For notebooks: :func:`run` runs a job with Hydra overrides, :func:`read_results` reads its results table as a
pandas DataFrame and :func:`load_model` loads the network of one row (asc/app/api.py, imported on first use).
Importing asc imports no torch.
"""

from asc.core.config_files import CONF_DIR

__all__ = ["CONF_DIR", "load_model", "read_results", "run"]
_API = ("run", "read_results", "load_model")


def __getattr__(name: str):
    if name in _API:
        from asc.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'asc' has no attribute {name!r}")
