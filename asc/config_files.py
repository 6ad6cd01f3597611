"""Where the Hydra configs are: package data (asc/conf, a link to the repository's conf/ that a wheel or
`pip install .` copies into the package), read through importlib.resources, so an installed asc finds them
wherever it runs."""

from importlib.resources import files
from pathlib import Path

CONF_DIR = Path(str(files("asc") / "conf"))
