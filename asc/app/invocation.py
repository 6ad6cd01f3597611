"""What asc takes from the environment it was started in, checked before Hydra or any stage runs.

- **Where paths resolve**: against the folder asc was started from, or an absolute ``paths.root``, whatever
  ``hydra.job.chdir``, ``hydra.run.dir`` or ``hydra.sweep.dir`` say (the CLI moves back to the start folder
  before a job runs); a store, results or data folder inside the job's own run folder is refused, since every
  run would then build into a folder of its own.
- **Run folders**: conf/config.yaml names run and sweep folders ``<time>-${asc_invocation:}``, a token drawn once
  per invocation (``$ASC_INVOCATION``, inherited by a launcher's workers), so two sweeps started in the same second
  never share a folder; a job holds its run folder while it runs (from before Hydra writes there:
  asc/app/run_folder.py), so two jobs given one fixed folder at once are refused (the second, before it does
  anything).
- **What is installed**: a launcher chosen without its extra is named with the install command.
- **The command line**: a config group asc needs, removed (``~model``, ``train=null``), is named in one line.

Hydra-free (asc/app/cli.py passes what Hydra says); errors are :class:`asc.core.errors.ConfigError`, one line each.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asc.core.config_files import CONF_DIR, conf_file
from asc.core.errors import ConfigError

INVOCATION_ENV = "ASC_INVOCATION"
PATH_KEYS = ("data", "store", "results")

# conf/hydra/launcher/<name>.yaml (and the plugins' own config names) → (module of the plugin, extra of asc)
LAUNCHER_EXTRAS = {
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "parallel": ("hydra_plugins.hydra_joblib_launcher", "parallel"),
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "parallel"),
}

# The groups every job reads; ``prune`` and ``experiment`` may be null (conf/config.yaml)
REQUIRED_GROUPS = ("dataset", "features", "model", "train", "finetune", "protocol")


def new_invocation() -> str:
    """Draw this invocation's token (6 hex digits) and export it, so that a launcher's workers resolve the same
    run folders as the process that started them."""
    token = secrets.token_hex(3)
    os.environ[INVOCATION_ENV] = token
    return token


def invocation_token() -> str:
    """The ``${asc_invocation:}`` resolver: this invocation's token (drawn on first use outside the CLI)."""
    return os.environ.get(INVOCATION_ENV) or new_invocation()


def _override(arg: str) -> tuple[str, str | None]:
    """(key without +/~ prefixes, value or None) of one command-line override."""
    key, _, value = arg.partition("=")
    return key.lstrip("+~"), (value if "=" in arg else None)


def refuse_command_line(argv: Sequence[str]) -> None:
    """Before Hydra composes: a required group removed or set to null, a launcher whose extra is missing."""
    for arg in argv:
        if arg.startswith("-"):
            continue
        key, value = _override(arg)
        if key in REQUIRED_GROUPS and (arg.startswith("~") or value in ("null", "None", "")):
            have = ", ".join(sorted(p.stem for p in (CONF_DIR / key).glob("*.yaml")))
            follows = " (or leave it out: the dataset chooses)" if key in ("train", "finetune") else ""
            raise ConfigError(
                f"{arg} removes the {key} config, which every job reads: choose one of {have}{follows}"
            )
        if key == "hydra/launcher" and value in LAUNCHER_EXTRAS:
            module, extra = LAUNCHER_EXTRAS[value]
            if _missing(module):
                raise ConfigError(
                    f"hydra/launcher={value} needs the `{extra}` extra, which is not installed: "
                    f'pip install -e ".[{extra}]" (or drop hydra/launcher to run the jobs one by one)'
                )


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def resolve_paths(paths: Mapping[str, Any], start: str | Path) -> dict[str, Any]:
    """``paths`` with data, store and results absolute: against an absolute ``paths.root`` when it is set, else
    against ``start`` (the folder asc was started from). ConfigError for a relative ``paths.root``."""
    root = paths.get("root")
    if root is not None and (not isinstance(root, str) or not Path(root).is_absolute()):
        raise ConfigError(
            f"paths.root={root!r} is not valid: expected null (the folder asc was started from) or an absolute "
            "folder, e.g. paths.root=/scratch/asc"
        )
    base = Path(root or start)
    out = dict(paths)
    for key in PATH_KEYS:
        value = paths.get(key)
        if isinstance(value, str) and value.strip():
            out[key] = str(base / Path(value).expanduser())
    return out


def refuse_inside_run_folder(
    paths: Mapping[str, Any], run_dir: str | Path, start: str | Path, what: str
) -> None:
    """A data, store or results folder inside this job's run folder (``what``: hydra.run.dir or hydra.sweep.dir)
    would be new for every run: refused, unless the run folder is the start folder or holds it."""
    run, here = Path(run_dir).resolve(), Path(start).resolve()
    if run == here or run in here.parents:
        return
    for key in (k for k in PATH_KEYS if isinstance(paths.get(k), str) and paths[k].strip()):
        folder = Path(paths[key]).resolve()
        if folder == run or run in folder.parents:
            raise ConfigError(
                f"paths.{key}={paths[key]} lies inside this job's run folder {run} ({what}): every run would "
                f"build into a folder of its own; point paths.{key} outside it (e.g. paths.{key}=outputs/{key})"
            )


RUN_LOCK = ".asc-run.lock"
_OWNED: set[Path] = set()  # the run folders this process holds now (own_run_folder)
_OWNED_GUARD = threading.Lock()


def _in_use(run_dir: str | Path, what: str, holder: str) -> ConfigError:
    return ConfigError(
        f"the run folder {run_dir} ({what}) is in use by another asc job ({holder}): give "
        f"this one a folder of its own, e.g. leave {what} at its default (unique per invocation)"
    )


@contextmanager
def own_run_folder(run_dir: str | Path, what: str) -> Iterator[None]:
    """Hold the job's run folder for the job: a second job in it while the first runs (``what``, e.g.
    hydra.run.dir, set to one fixed folder for two jobs at once) is refused before it does anything
    (ConfigError). Re-entrant in one process: asc.app.run_folder holds a run folder from before Hydra writes
    into it, and the job's own hold inside that one takes nothing twice."""
    from asc.core.locks import hold

    folder = Path(os.path.abspath(run_dir))
    with _OWNED_GUARD:
        nested = folder in _OWNED
    if nested:  # held around this hold, by this process: released there
        yield
        return
    entered = False
    try:
        with hold(folder / RUN_LOCK, timeout_s=0, what=f"the run folder {run_dir}"):
            entered = True
            with _OWNED_GUARD:
                _OWNED.add(folder)
            try:
                yield
            finally:
                with _OWNED_GUARD:
                    _OWNED.discard(folder)
    except TimeoutError as err:
        if entered:
            raise
        holder = str(err).partition("it is held by ")[2].partition(";")[0] or "another process"
        raise _in_use(run_dir, what, holder) from None


def refuse_jobs_running_below(sweep_dir: str | Path, what: str) -> None:
    """A sweep folder one of whose job folders (``<sweep_dir>/<subdir>``, one level down: Hydra's default subdir
    is the job's number) a live asc job still holds, e.g. a job of a sweep whose launching process is gone (a
    SLURM job outlives it): ConfigError naming it, before the sweep writes into any of them."""
    import time

    from asc.core.locks import read_holder, stale_after_default, stale_reason

    stale_after = stale_after_default()
    for lock in sorted(Path(sweep_dir).glob(f"*/{RUN_LOCK}")):
        holder = read_holder(lock)
        if holder is not None and stale_reason(holder, stale_after, time.time()) is None:
            raise _in_use(lock.parent, what, holder.describe())


def group_key_line(key: str) -> str:
    """One line for an override of a key the chosen config lacks (``dataset.content_hash`` on the demo)."""
    group, _, rest = key.partition(".")
    if not rest or not (CONF_DIR / group).is_dir():
        return f"{key} is not a key of the config: drop it (or add it with +{key}=... if your own config reads it)"
    first = rest.split(".")[0]
    having = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if first in conf_file(p))
    if not having:
        return f"{key} is not a key of any {group} config: drop it"
    # no group chosen (the demo prunes through `runs`) and another one chosen read the same: name the choice to make
    return (
        f"{key} is a key of {group}={', '.join(having)} only and none of those is chosen: add {group}=<one of "
        "those> to the command, or drop the key"
    )


def hydra_error_line(err: BaseException, argv: Sequence[str]) -> str | None:
    """One line for an error Hydra raised while composing or making the run folder, or None for any other."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, OSError) and err.filename:
        return (
            f"cannot create the run folder {err.filename} ({err.strerror}): point hydra.run.dir (a multirun: "
            "hydra.sweep.dir) at a writable folder, e.g. hydra.run.dir=/tmp/asc-runs"
        )
    if first.startswith("Could not override '"):
        key = first.split("'")[1]
        return group_key_line(key)
    names = {type(c).__name__ for c in (err, err.__cause__) if c is not None}
    if names & {"ConfigCompositionException", "MissingConfigException", "OverrideParseException"}:
        cause = str(err.__cause__).strip().splitlines()[0] if err.__cause__ else ""
        return _one_line(text) + (f" ({cause})" if cause and cause not in text else "")
    return None


def _one_line(text: str) -> str:
    """Hydra's multi-line message on one line: a line ending in ``:`` and the items under it become ``x: a, b``."""
    out: list[str] = []
    listing = False
    for line in (x.strip() for x in text.splitlines()):
        if line.startswith("Config search path"):
            break
        if not line:
            listing = False
        elif listing:
            out[-1] += (" " if out[-1].endswith(":") else ", ") + line
        else:
            out.append(line)
            listing = line.endswith(":")
    return "; ".join(out)
