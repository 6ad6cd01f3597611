"""asc: acoustic scene classification and passive CNN filter pruning (Singh & Plumbley, Interspeech 2022)."""

from pathlib import Path

# Hydra configs live at the repository root (the package is installed in editable mode, see README).
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
