"""The run folder held from before Hydra writes into it (a Hydra callback, conf/config.yaml ``hydra.callbacks``).

Hydra makes a job's folder, opens its log there and writes its ``.hydra/`` record before the job's own code runs,
so a lock the job takes would come after a second job in the same fixed folder had already overwritten the first
one's record. :class:`HoldRunFolder` takes it earlier, in the process that starts the job:

- a single run: ``hydra.run.dir`` from ``on_run_start`` to ``on_run_end``; the job's own hold
  (asc.app.invocation.own_run_folder, in asc/app/cli.py) is the same one, taken once per process;
- a multirun: ``hydra.sweep.dir`` for the whole sweep, before the launcher writes ``multirun.yaml`` or a job's
  ``.hydra/``; a job folder below it that a live asc job still holds refuses the sweep too. Each job holds its own
  ``<sweep dir>/<subdir>`` inside the job, as before (a launcher's workers are other processes).

A refused job prints one line (``asc: error: the run folder ... is in use by another asc job (pid N ...)``), exits
with status 1 and leaves the held folder as it was. The hold is released when the run ends, or at the process's
exit when the job stopped it (``sys.exit``, a failure: Hydra then skips ``on_run_end``).
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from contextlib import ExitStack
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from asc.core.errors import InputError


def refuse(err: BaseException, line: str | None = None) -> None:
    """Stop the command with one line on stderr (``line``, else the error's own), status 1; its traceback too with
    ``ASC_DEBUG=1``. A callback's exception would become a warning of Hydra's, which then runs the job anyway."""
    if os.environ.get("ASC_DEBUG"):
        traceback.print_exception(err, file=sys.stderr)
    print(f"asc: error: {line or err}", file=sys.stderr)
    sys.exit(1)


class HoldRunFolder(Callback):
    """Holds the run folder of a single run, or the sweep folder of a multirun, while it runs (see the module)."""

    def __init__(self) -> None:
        self._held = ExitStack()

    # a launcher's workers get a copy (joblib pickles Hydra's callbacks with each job): it holds nothing, the sweep's
    # own process does
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._held = ExitStack()

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._hold(config, "hydra.run.dir", sweep=False)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._held.close()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._hold(config, "hydra.sweep.dir", sweep=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._held.close()

    def _hold(self, config: DictConfig, key: str, *, sweep: bool) -> None:
        from asc.app.invocation import hydra_error_line, own_run_folder, refuse_jobs_running_below

        folder = OmegaConf.select(config, key, default=None)
        if folder is None:
            return
        # the folder Hydra's run_job and launchers use: resolved on this config (Hydra caches ${now:...} on it) and
        # relative to this process's folder, which is the start folder until the job's chdir
        folder = os.path.abspath(str(folder))
        try:
            if sweep:
                refuse_jobs_running_below(folder, key)
            self._held.enter_context(own_run_folder(folder, key))
        except InputError as err:
            refuse(err)
        except (
            OSError
        ) as err:  # the folder cannot be made (read-only): the line Hydra's own attempt would get
            refuse(err, hydra_error_line(err, sys.argv[1:]))
        atexit.register(self._held.close)
